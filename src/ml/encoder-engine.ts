import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { AppError } from "../errors.ts";

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

/** One ONNX run: how many texts it held and how long it took (Metrics.observeInference). */
export interface EncoderRun {
  size: number;
  seconds: number;
}

/** Vectors of one `encode` call, in input order, with the ONNX runs that produced them. */
export interface Encoded {
  vectors: Float32Array[];
  runs: EncoderRun[];
}

/** Runs the encoder over token ids: on this thread (a session) or on worker threads (a pool). */
export interface EncoderEngine {
  /** How many `encode` calls can make progress at once (1 on the calling thread, N for N worker threads). */
  readonly parallel: number;
  encode(ids: number[][]): Promise<Encoded>;
  release(): Promise<void>;
}

/** What a session needs to start: where the weights are, how to pool, and the thread settings (plain data: workers get it). */
export interface SessionInit {
  dir: string;
  spec: Pick<EncoderSpec, "onnx" | "sha256" | "dim" | "pooling">;
  threads: number;
  spin: boolean;
  maxBatch: number;
}

/** Reads the encoder's weights and checks them against the spec's sha256; fails fast on a missing or altered file. */
export async function readVerifiedWeights(dir: string, spec: SessionInit["spec"]): Promise<Uint8Array> {
  const path = join(dir, spec.onnx);
  const weights = await readFile(path).catch((e) => {
    throw new AppError("model_missing", `no encoder weights at ${path}: run scripts/ml/obtain-models.sh`, { cause: e });
  });
  const sha = new Bun.CryptoHasher("sha256").update(weights).digest("hex");
  if (sha !== spec.sha256) throw new AppError("model_corrupt", `${path} sha256 ${sha} does not match embedder.json ${spec.sha256}`);
  return weights;
}

/**
 * The encoder on the calling thread. onnxruntime-node's `run` holds that thread until it returns (measured: a
 * timer did not fire during runs), which is why the product runs it on worker threads (`WorkerPoolEngine`).
 */
export class SessionEngine implements EncoderEngine {
  readonly parallel = 1;
  private readonly needsTypeIds: boolean;

  private constructor(
    private readonly spec: SessionInit["spec"],
    private readonly session: ort.InferenceSession,
    private readonly maxBatch: number,
  ) {
    this.needsTypeIds = session.inputNames.includes("token_type_ids");
  }

  /** Verifies the weights and opens a session over them; fails fast on a missing or altered file. */
  static async open(init: SessionInit): Promise<SessionEngine> {
    let weights: Uint8Array | null = await readVerifiedWeights(init.dir, init.spec);
    const session = await ort.InferenceSession.create(weights, {
      intraOpNumThreads: init.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      executionMode: "sequential",
      // Spinning threads measured slower on 2 cores and steal CPU from the rest of the process.
      extra: { session: { intra_op: { allow_spinning: init.spin ? "1" : "0" } } },
    });
    // The session holds its own copy of the weights: ours (34 MB) goes now, not at some later collection.
    weights = null;
    Bun.gc(true);
    return new SessionEngine(init.spec, session, init.maxBatch);
  }

  /** Sorts the texts by token length into padded sub-batches of at most maxBatch, one ONNX run each. */
  async encode(ids: number[][]): Promise<Encoded> {
    const order = ids.map((_, i) => i).sort((a, b) => ids[a]!.length - ids[b]!.length);
    const vectors: Float32Array[] = new Array(ids.length);
    const runs: EncoderRun[] = [];
    // Group texts of similar length so a long outlier does not pad a whole batch.
    let start = 0;
    while (start < order.length) {
      let end = start + 1;
      const base = ids[order[start]!]!.length;
      while (end < order.length && end - start < this.maxBatch && ids[order[end]!]!.length <= base * 1.5 + 8) end++;
      const group = order.slice(start, end);
      const t0 = performance.now();
      const vecs = await this.run(group.map((i) => ids[i]!));
      runs.push({ size: group.length, seconds: (performance.now() - t0) / 1000 });
      group.forEach((i, k) => (vectors[i] = vecs[k]!));
      start = end;
    }
    return { vectors, runs };
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
    const d = this.spec.dim;
    if (hidden.dims[2] !== d) throw new AppError("model_shape", `encoder returned dim ${hidden.dims[2]}, expected ${d}`);
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

  async release(): Promise<void> {
    await this.session.release();
  }
}
