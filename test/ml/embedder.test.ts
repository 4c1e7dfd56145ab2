import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { WorkerPoolEngine } from "../../src/ml/encoder-pool.ts";
import { OnnxEmbedder } from "../../src/ml/onnx-embedder.ts";

const MODEL = join(import.meta.dir, "../../models/embed/bge-small-en-v1.5");
/** Vectors computed once by scripts/ml/reference_vectors.py (Rust tokenizers + python onnxruntime + numpy pooling). */
const reference = (await Bun.file(join(import.meta.dir, "fixtures/bge-small-en-v1.5.reference.json")).json()) as {
  sha256: string;
  rows: { kind: "query" | "passage"; text: string; ids: number[]; vector: number[] }[];
};

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

let e: OnnxEmbedder;
beforeAll(async () => {
  e = await OnnxEmbedder.load(MODEL);
}, 60_000);
afterAll(() => e.close());

describe("OnnxEmbedder (bge-small-en-v1.5 int8)", () => {
  test("identity names the model and the weights' sha256", () => {
    expect(e.id).toBe(`bge-small-en-v1.5@${reference.sha256.slice(0, 12)}`);
    expect(e.dim).toBe(384);
  });

  test("vectors have 384 dims and unit length", async () => {
    const vs = await e.embed(["hello", "a much longer sentence about cards, transfers and exchange rates"], "passage");
    for (const v of vs) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(384);
      expect(Math.abs(Math.hypot(...v) - 1)).toBeLessThan(1e-5);
    }
  });

  test("tokenizer ids match the Rust tokenizers library", () => {
    for (const r of reference.rows) {
      const prefix = r.kind === "query" ? e.spec.query_prefix : e.spec.passage_prefix;
      expect(e.tokenize(prefix + r.text)).toEqual(r.ids);
    }
  });

  test("pooling + normalisation match the independent reference vectors", async () => {
    for (const r of reference.rows) {
      const [v] = await e.embed([r.text], r.kind);
      let maxDiff = 0;
      for (let i = 0; i < 384; i++) maxDiff = Math.max(maxDiff, Math.abs(v![i]! - r.vector[i]!));
      expect(maxDiff).toBeLessThan(1e-4);
    }
  });

  test("paraphrases are closer than unrelated texts", async () => {
    const [a, b, c] = await e.embed(["My card has not arrived yet", "I am still waiting for my new card", "What is the weather in Paris?"]);
    expect(dot(a!, b!)).toBeGreaterThan(dot(a!, c!) + 0.1);
  });

  test("concurrent callers are merged into one ONNX run and repeated texts hit the cache", async () => {
    const before = { ...e.stats };
    const texts = ["alpha one", "beta two", "gamma three", "delta four"];
    await Promise.all(texts.map((t) => e.embed([t], "query")));
    expect(e.stats.runs - before.runs).toBe(1);
    expect(e.stats.encoded - before.encoded).toBe(4);
    await e.embed(["alpha one"], "query");
    expect(e.stats.encoded - before.encoded).toBe(4);
    expect(e.stats.cacheHits - before.cacheHits).toBe(1);
  });

  test("truncates long texts to max_length tokens", () => {
    const ids = e.tokenize("word ".repeat(1000));
    expect(ids.length).toBe(e.spec.max_length);
    expect(ids[0]).toBe(101);
    expect(ids.at(-1)).toBe(102);
  });
});

describe("the encoder on worker threads (the default) against the calling thread", () => {
  let local: OnnxEmbedder;
  beforeAll(async () => {
    local = await OnnxEmbedder.load(MODEL, { workers: 0 });
  }, 60_000);
  afterAll(() => local.close());

  const texts = Array.from({ length: 96 }, (_, i) => `Why was my card payment number ${i} declined ${"again ".repeat(i % 7)}at the shop?`);

  test("the default runs two worker threads; workers: 0 runs on the calling thread", () => {
    expect(e.parallel).toBe(2);
    expect(local.parallel).toBe(1);
  });

  test("a backlog spread over the workers gives the same vectors, in input order", async () => {
    const [pooled, inThread] = [await e.encode(texts), await local.encode(texts)];
    expect(pooled).toHaveLength(texts.length);
    for (let i = 0; i < texts.length; i++) {
      // Batch mates differ between the two (dynamic int8 scales per run), hence not bit-identical: 0.995-0.997 measured.
      expect(dot(pooled[i]!, inThread[i]!)).toBeGreaterThan(0.99);
      const nearest = inThread.reduce((best, v, j) => (dot(pooled[i]!, v) > dot(pooled[i]!, inThread[best]!) ? j : best), 0);
      expect(nearest).toBe(i);
    }
  }, 60_000);

  test("the event loop keeps running while the workers encode (on the calling thread a run holds it)", async () => {
    // Turns of a 1 ms interval timer during a large encode: on the calling thread each ONNX run holds the loop until
    // it ends, so the timer only gets a turn between runs; on worker threads it keeps its turns throughout.
    const turnsAndRuns = async (emb: OnnxEmbedder) => {
      const before = emb.stats.runs;
      let turns = 0;
      const timer = setInterval(() => turns++, 1);
      await emb.encode(texts.map((t) => `${t} ${"and then some more words ".repeat(4)}`));
      clearInterval(timer);
      return { turns, runs: emb.stats.runs - before };
    };
    const pooled = await turnsAndRuns(e);
    const inThread = await turnsAndRuns(local);
    expect(pooled.turns).toBeGreaterThan(pooled.runs * 3);
    expect(inThread.turns).toBeLessThanOrEqual(inThread.runs + 2);
  }, 60_000);

  test("a closed embedder refuses new work", async () => {
    const x = await OnnxEmbedder.load(MODEL, { workers: 1 });
    await x.embed(["one"]);
    await x.close();
    await expect(x.embed(["two"])).rejects.toMatchObject({ code: "embedder_closed" });
  }, 60_000);
});

describe("the encoder pool when a worker dies", () => {
  test("the job runs again on a fresh worker and the pool keeps serving", async () => {
    const spec = JSON.parse(await Bun.file(join(MODEL, "embedder.json")).text());
    const pool = await WorkerPoolEngine.open({ dir: MODEL, spec, threads: 1, spin: false, maxBatch: 16 }, 1);
    const reference = await OnnxEmbedder.load(MODEL, { workers: 0, maxBatch: 16 });
    try {
      const ids = ["my card was declined", "how do I top up by bank transfer", "where is my new card"].map((t) => reference.tokenize(t));
      const expected = (await pool.encode(ids)).vectors;
      const job = pool.encode(ids);
      // Fault injection: kill the worker that holds the job (private field, test only).
      (pool as unknown as { slots: { worker: Worker }[] }).slots[0]!.worker.terminate();
      const { vectors } = await job;
      for (let i = 0; i < ids.length; i++) expect(dot(vectors[i]!, expected[i]!)).toBeGreaterThan(0.9999);
      expect((await pool.encode(ids)).vectors).toHaveLength(3);
    } finally {
      await pool.release();
      await reference.close();
    }
  }, 60_000);
});
