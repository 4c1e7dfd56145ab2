import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PreTrainedTokenizer } from "@huggingface/transformers";
import { AppError } from "../errors.ts";
import { type EncoderEngine, type EncoderSpec, SessionEngine, type SessionInit } from "./encoder-engine.ts";
import { WorkerPoolEngine } from "./encoder-pool.ts";
import type { EmbedKind, Embedder } from "./embedder.ts";

export type { EncoderSpec } from "./encoder-engine.ts";

/** Tuning knobs of the encoder: threads, micro-batching and the shared cache. */
export interface EmbedderOptions {
  /**
   * Worker threads running the encoder, one session each (default 2, the cores of the target box). 0 runs it on the
   * calling thread, where each ONNX run holds the event loop until it returns.
   */
  workers?: number;
  /** onnxruntime intra-op threads per session (default: 1 on worker threads, 2 on the calling thread). */
  threads?: number;
  /** How long an idle embedder waits for more callers before running (ms; default 0 = the next macrotask). */
  batchWindowMs?: number;
  /** Most texts per ONNX run (default 16: larger batches measured no faster on 2 cores; 1 makes a vector independent of its batch mates). */
  maxBatch?: number;
  /** Let onnxruntime worker threads busy-wait between ops (default false). */
  spin?: boolean;
  /** Entries of the (kind, text) → vector cache that makes triage and retrieval share one embedding per message. */
  cacheSize?: number;
  /** Told the batch size and duration of every ONNX run (Metrics.observeInference). */
  onRun?: (batchSize: number, seconds: number) => void;
}

/** Fewest texts a free engine slot is handed when the queue is split between slots. */
const MIN_SHARE = 4;

interface Pending {
  text: string;
  key: string;
  resolve: (v: Float32Array) => void;
  reject: (e: unknown) => void;
}

/** Reads the tokenizer of a model folder (hub layout). */
export async function loadTokenizer(dir: string): Promise<PreTrainedTokenizer> {
  const [tokJson, tokConfig] = await Promise.all([
    readFile(join(dir, "tokenizer.json"), "utf8").then(JSON.parse),
    readFile(join(dir, "tokenizer_config.json"), "utf8").then(JSON.parse),
  ]);
  return new PreTrainedTokenizer(tokJson, tokConfig);
}

/** Token ids with [CLS]/[SEP], truncated to max_length (keeping the final [SEP]). */
export function tokenIds(tokenizer: PreTrainedTokenizer, text: string, maxLength: number): number[] {
  const ids = tokenizer.encode(text);
  if (ids.length <= maxLength) return ids;
  const sep = ids[ids.length - 1]!;
  return [...ids.slice(0, maxLength - 1), sep];
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
 * into ONNX runs (small window, bounded batch) on an engine — worker threads by default, so the event loop stays
 * free — and recent vectors are cached by (kind, text) with in-flight de-duplication, so the message text embedded
 * by intent, sentiment and retrieval is computed once.
 */
export class OnnxEmbedder implements Embedder {
  readonly id: string;
  readonly dim: number;
  /** Counts ONNX runs and texts encoded (for metrics and tests of the batching). */
  readonly stats = { runs: 0, encoded: 0, cacheHits: 0 };

  private queue: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inflight = new Set<Promise<void>>();
  private cache = new Map<string, Promise<Float32Array>>();
  private closed = false;
  private readonly window: number;
  private readonly maxBatch: number;
  private readonly cacheSize: number;

  private readonly onRun?: (batchSize: number, seconds: number) => void;

  private constructor(
    readonly spec: EncoderSpec,
    private readonly tokenizer: PreTrainedTokenizer,
    private readonly engine: EncoderEngine,
    opts: EmbedderOptions,
  ) {
    this.id = `${spec.name}@${spec.sha256.slice(0, 12)}`;
    this.dim = spec.dim;
    this.window = opts.batchWindowMs ?? 0;
    this.maxBatch = opts.maxBatch ?? 16;
    this.cacheSize = opts.cacheSize ?? 2048;
    this.onRun = opts.onRun;
  }

  /** Loads the encoder in `dir` (hub layout + embedder.json); fails fast if a file is missing or altered. */
  static async load(dir: string, opts: EmbedderOptions = {}): Promise<OnnxEmbedder> {
    const spec = await readEncoderSpec(dir);
    const tokenizer = await loadTokenizer(dir);
    const workers = opts.workers ?? 2;
    const init: SessionInit = { dir, spec: { onnx: spec.onnx, sha256: spec.sha256, dim: spec.dim, pooling: spec.pooling }, threads: opts.threads ?? (workers > 0 ? 1 : 2), spin: opts.spin ?? false, maxBatch: opts.maxBatch ?? 16 };
    // Tokenising stays here (~0.05 ms a text): a worker then loads onnxruntime alone, not the tokenizer library.
    const engine = workers > 0 ? await WorkerPoolEngine.open(init, workers) : await SessionEngine.open(init);
    return new OnnxEmbedder(spec, tokenizer, engine, opts);
  }

  /** How many ONNX runs can make progress at once (the worker threads, or 1 on the calling thread). */
  get parallel(): number {
    return this.engine.parallel;
  }

  /** Token ids with [CLS]/[SEP], truncated to max_length (keeping the final [SEP]). */
  tokenize(text: string): number[] {
    return tokenIds(this.tokenizer, text, this.spec.max_length);
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
    // While every engine slot is busy the queue grows and the next dispatch takes it whole (natural batching under
    // load); when a slot is free, a short window (0 = next macrotask) lets callers of the same tick share one run.
    if (this.timer || this.inflight.size >= this.engine.parallel || this.queue.length === 0) return;
    const delay = this.queue.length >= this.maxBatch ? 0 : this.window;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dispatch();
    }, delay);
  }

  /** Hands queued texts to every free engine slot, splitting a backlog evenly so the slots finish together. */
  private dispatch(): void {
    while (this.queue.length > 0 && this.inflight.size < this.engine.parallel) {
      const free = this.engine.parallel - this.inflight.size;
      // The queue is shared between the free slots so they all work (a few texts stay together: tiny runs buy
      // nothing); a backlog goes several runs' worth at a time, which the engine sorts by length to pad less.
      const take = Math.min(this.maxBatch * 8, Math.max(MIN_SHARE, Math.ceil(this.queue.length / free)));
      const batch = this.queue.splice(0, take);
      const job = this.encode(batch.map((p) => p.text)).then(
        (vecs) => batch.forEach((p, i) => p.resolve(vecs[i]!)),
        (e) => {
          const error = e instanceof AppError ? e : new AppError("embed_failed", `embedding failed: ${(e as Error).message}`, { retriable: true, cause: e });
          for (const p of batch) p.reject(error);
        },
      );
      this.inflight.add(job);
      void job.finally(() => {
        this.inflight.delete(job);
        this.schedule();
      });
    }
  }

  /**
   * Already-prefixed texts through the engine, no cache, no queue: sorted by length into padded sub-batches, and
   * spread over the worker threads (interleaved by length, so each gets a similar share).
   */
  async encode(texts: string[]): Promise<Float32Array[]> {
    const ids = texts.map((t) => this.tokenize(t));
    const shares = Math.min(this.engine.parallel, Math.ceil(texts.length / this.maxBatch));
    if (shares <= 1) return this.record(await this.engine.encode(ids));
    const order = ids.map((_, i) => i).sort((a, b) => ids[a]!.length - ids[b]!.length);
    const parts = Array.from({ length: shares }, (_, s) => order.filter((_, k) => k % shares === s));
    const results = await Promise.all(parts.map((idx) => this.engine.encode(idx.map((i) => ids[i]!)).then((r) => this.record(r))));
    const out: Float32Array[] = new Array(texts.length);
    parts.forEach((idx, s) => idx.forEach((i, k) => (out[i] = results[s]![k]!)));
    return out;
  }

  private record(r: { vectors: Float32Array[]; runs: { size: number; seconds: number }[] }): Float32Array[] {
    for (const run of r.runs) {
      this.stats.runs++;
      this.stats.encoded += run.size;
      this.onRun?.(run.size, run.seconds);
    }
    return r.vectors;
  }

  /** Rejects later calls and releases the engine once queued work is done. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.dispatch();
    }
    while (this.inflight.size > 0 || this.queue.length > 0) {
      this.dispatch();
      await Promise.all(this.inflight);
    }
    await this.engine.release();
  }
}
