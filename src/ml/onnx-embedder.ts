import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PreTrainedTokenizer } from "@huggingface/transformers";
import * as ort from "onnxruntime-node";
import { AppError } from "../errors.ts";
import type { EmbedKind, Embedder } from "./embedder.ts";

/** The `embedder.json` beside each model folder: how to run and pool this encoder. */
export interface EncoderSpec {
  name: string;
  /** ONNX file relative to the model folder (hub layout: `onnx/model_quantized.onnx`). */
  onnx: string;
  dim: number;
  /** bge uses the [CLS] token; MiniLM and e5 use the attention-masked mean. */
  pooling: "cls" | "mean";
  query_prefix: string;
  passage_prefix: string;
  /** Tokens per text including [CLS]/[SEP]; longer texts are truncated (the tail is dropped). */
  max_length: number;
  source: string;
  sha256: string;
}

/** Tuning knobs of the encoder: threads, micro-batching and the shared cache. */
export interface EmbedderOptions {
  /** onnxruntime intra-op threads (default: 2, the cores of the target box). */
  threads?: number;
  /** How long an idle embedder waits for more callers before running (ms; default 0 = the next macrotask). */
  batchWindowMs?: number;
  /** Most texts per ONNX run (default 16: larger batches measured no faster on 2 cores). */
  maxBatch?: number;
  /** Let onnxruntime worker threads busy-wait between ops (default false). */
  spin?: boolean;
  /** Entries of the (kind, text) → vector cache that makes triage and retrieval share one embedding per message. */
  cacheSize?: number;
  /** Told the batch size and duration of every ONNX run (Metrics.observeInference). */
  onRun?: (batchSize: number, seconds: number) => void;
}

interface Pending {
  text: string;
  key: string;
  resolve: (v: Float32Array) => void;
  reject: (e: unknown) => void;
}

/** Reads `embedder.json` of a model folder. */
export async function readEncoderSpec(dir: string): Promise<EncoderSpec> {
  try {
    return JSON.parse(await readFile(join(dir, "embedder.json"), "utf8")) as EncoderSpec;
  } catch (e) {
    throw new AppError("model_missing", `no encoder in ${dir} (embedder.json unreadable): run scripts/ml/obtain-models.sh`, { cause: e });
  }
}

/**
 * Sentence encoder over onnxruntime-node with a transformers.js tokenizer. Concurrent `embed` calls are merged
 * into one ONNX run (small window, bounded batch), and recent vectors are cached by (kind, text) with in-flight
 * de-duplication, so the message text embedded by intent, sentiment and retrieval is computed once.
 */
export class OnnxEmbedder implements Embedder {
  readonly id: string;
  readonly dim: number;
  /** Counts ONNX runs and texts encoded (for metrics and tests of the batching). */
  readonly stats = { runs: 0, encoded: 0, cacheHits: 0 };

  private queue: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> = Promise.resolve();
  private cache = new Map<string, Promise<Float32Array>>();
  private closed = false;
  private busy = false;
  private readonly window: number;
  private readonly maxBatch: number;
  private readonly cacheSize: number;
  private readonly needsTypeIds: boolean;

  private readonly onRun?: (batchSize: number, seconds: number) => void;

  private constructor(
    readonly spec: EncoderSpec,
    private readonly tokenizer: PreTrainedTokenizer,
    private readonly session: ort.InferenceSession,
    opts: EmbedderOptions,
  ) {
    this.id = `${spec.name}@${spec.sha256.slice(0, 12)}`;
    this.dim = spec.dim;
    this.window = opts.batchWindowMs ?? 0;
    this.maxBatch = opts.maxBatch ?? 16;
    this.cacheSize = opts.cacheSize ?? 2048;
    this.onRun = opts.onRun;
    this.needsTypeIds = session.inputNames.includes("token_type_ids");
  }

  /** Loads the encoder in `dir` (hub layout + embedder.json); fails fast if a file is missing or altered. */
  static async load(dir: string, opts: EmbedderOptions = {}): Promise<OnnxEmbedder> {
    const spec = await readEncoderSpec(dir);
    const [tokJson, tokConfig] = await Promise.all([
      readFile(join(dir, "tokenizer.json"), "utf8").then(JSON.parse),
      readFile(join(dir, "tokenizer_config.json"), "utf8").then(JSON.parse),
    ]);
    const weights = await readFile(join(dir, spec.onnx));
    const sha = new Bun.CryptoHasher("sha256").update(weights).digest("hex");
    if (sha !== spec.sha256) {
      throw new AppError("model_corrupt", `${join(dir, spec.onnx)} sha256 ${sha} does not match embedder.json ${spec.sha256}`);
    }
    const session = await ort.InferenceSession.create(weights, {
      intraOpNumThreads: opts.threads ?? 2,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      executionMode: "sequential",
      // Spinning threads measured slower on 2 cores and steal CPU from the rest of the process.
      extra: { session: { intra_op: { allow_spinning: opts.spin ? "1" : "0" } } },
    });
    return new OnnxEmbedder(spec, new PreTrainedTokenizer(tokJson, tokConfig), session, opts);
  }

  /** Token ids with [CLS]/[SEP], truncated to max_length (keeping the final [SEP]). */
  tokenize(text: string): number[] {
    const ids = this.tokenizer.encode(text);
    if (ids.length <= this.spec.max_length) return ids;
    const sep = ids[ids.length - 1]!;
    return [...ids.slice(0, this.spec.max_length - 1), sep];
  }

  /** Embeds texts; the kind adds the model's query/passage prefix. Vectors are L2-normalised. */
  embed(texts: string[], kind: EmbedKind = "query"): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(new AppError("embedder_closed", "embedder is closed", { status: 503 }));
    const prefix = kind === "query" ? this.spec.query_prefix : this.spec.passage_prefix;
    const vecs = texts.map((t) => {
      const key = `${kind}\u0000${t}`;
      const hit = this.cache.get(key);
      if (hit) {
        this.stats.cacheHits++;
        this.cache.delete(key);
        this.cache.set(key, hit);
        return hit;
      }
      const p = new Promise<Float32Array>((resolve, reject) => {
        this.queue.push({ text: prefix + t, key, resolve, reject });
      });
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
      if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      return p;
    });
    this.schedule();
    return Promise.all(vecs);
  }

  private schedule(): void {
    // While a run is in flight the drain loop picks up whatever queued meanwhile (natural batching under load);
    // when idle, a short window (0 = next macrotask) lets callers of the same tick share one run.
    if (this.timer || this.busy || this.queue.length === 0) return;
    const delay = this.queue.length >= this.maxBatch ? 0 : this.window;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.running.then(() => this.drain());
    }, delay);
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.queue.length > 0) {
        // Several ONNX runs' worth at once: encode() sorts them by length, so a batch of messages pads less.
        const batch = this.queue.splice(0, this.maxBatch * 8);
        try {
          const vecs = await this.encode(batch.map((p) => p.text));
          batch.forEach((p, i) => p.resolve(vecs[i]!));
        } catch (e) {
          const error = e instanceof AppError ? e : new AppError("embed_failed", `embedding failed: ${(e as Error).message}`, { retriable: true, cause: e });
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** One ONNX run over already-prefixed texts, sorted by length into padded sub-batches; no cache, no queue. */
  async encode(texts: string[]): Promise<Float32Array[]> {
    const ids = texts.map((t) => this.tokenize(t));
    const order = ids.map((_, i) => i).sort((a, b) => ids[a]!.length - ids[b]!.length);
    const out: Float32Array[] = new Array(texts.length);
    // Group texts of similar length so a long outlier does not pad a whole batch.
    let start = 0;
    while (start < order.length) {
      let end = start + 1;
      const base = ids[order[start]!]!.length;
      while (end < order.length && end - start < this.maxBatch && ids[order[end]!]!.length <= base * 1.5 + 8) end++;
      const group = order.slice(start, end);
      const t0 = performance.now();
      const vecs = await this.run(group.map((i) => ids[i]!));
      this.onRun?.(group.length, (performance.now() - t0) / 1000);
      group.forEach((i, k) => (out[i] = vecs[k]!));
      start = end;
    }
    return out;
  }

  private async run(batch: number[][]): Promise<Float32Array[]> {
    const n = batch.length;
    const len = Math.max(...batch.map((b) => b.length));
    const inputIds = new BigInt64Array(n * len);
    const mask = new BigInt64Array(n * len);
    batch.forEach((row, r) => {
      for (let j = 0; j < row.length; j++) {
        inputIds[r * len + j] = BigInt(row[j]!);
        mask[r * len + j] = 1n;
      }
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", inputIds, [n, len]),
      attention_mask: new ort.Tensor("int64", mask, [n, len]),
    };
    if (this.needsTypeIds) feeds.token_type_ids = new ort.Tensor("int64", new BigInt64Array(n * len), [n, len]);
    const res = await this.session.run(feeds);
    const hidden = res[this.session.outputNames[0]!]!;
    const h = hidden.data as Float32Array;
    const d = this.dim;
    if (hidden.dims[2] !== d) throw new AppError("model_shape", `encoder returned dim ${hidden.dims[2]}, expected ${d}`);
    this.stats.runs++;
    this.stats.encoded += n;
    const vecs: Float32Array[] = [];
    for (let r = 0; r < n; r++) {
      const v = new Float32Array(d);
      const rowLen = batch[r]!.length;
      if (this.spec.pooling === "cls") {
        v.set(h.subarray(r * len * d, r * len * d + d));
      } else {
        for (let t = 0; t < rowLen; t++) {
          const off = (r * len + t) * d;
          for (let k = 0; k < d; k++) v[k]! += h[off + k]!;
        }
        for (let k = 0; k < d; k++) v[k]! /= rowLen;
      }
      let norm = 0;
      for (let k = 0; k < d; k++) norm += v[k]! * v[k]!;
      norm = Math.sqrt(norm) || 1;
      for (let k = 0; k < d; k++) v[k]! /= norm;
      vecs.push(v);
    }
    hidden.dispose?.();
    return vecs;
  }

  /** Rejects later calls and releases the ONNX session once queued work is done. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.running = this.running.then(() => this.drain());
    }
    await this.running;
    await this.session.release();
  }
}
