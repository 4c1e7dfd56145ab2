import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
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
});
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
