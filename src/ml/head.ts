import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { existsSync } from "node:fs";
import { AppError } from "../errors.ts";
import { Tfidf } from "./tfidf.ts";

/** `labels.json` written by the trainer beside `head.onnx`. */
export interface HeadInfo {
  name: string;
  /** Class names in the order of the ONNX output columns. */
  labels: string[];
  /** Temperature already folded into the graph (kept for the model card). */
  temperature: number;
  /** Calibrated top-1 probability below which the answer is "unknown" (chosen on the dev split). */
  unknown_threshold: number;
  /** The embedder id the head was trained on; a head is refused over another encoder. */
  embedder: string;
  /** The query prefix the training texts were embedded with (a different prefix shifts every vector). */
  query_prefix: string;
  /** What the encoder saw in training: "cleaned" (triage.ts embeddingText) or "raw"; absent in heads trained raw. */
  embed_text?: "cleaned" | "raw";
}

/** A label with its calibrated probability. */
export interface Scored {
  label: string;
  score: number;
}

/**
 * A trained classification head run with onnxruntime-node: features [N, D] (and, when the folder has tfidf.json,
 * word n-gram tf-idf [N, V]) → calibrated probs [N, C].
 */
export class OnnxHead {
  /**
   * Zeroed n-gram feature matrices, reused: a dense row is 27k floats (108 kB) per text, 216 MB of fresh garbage over
   * a 2,000-message backlog that the collector reaches late while the encoder holds the event loop. Each run takes
   * its own, so concurrent runs never share a matrix.
   */
  private readonly scratch: Float32Array[] = [];

  private constructor(
    readonly info: HeadInfo,
    private readonly session: ort.InferenceSession,
    readonly dim: number,
    readonly tfidf: Tfidf | null,
  ) {}

  /** Loads `head.onnx` + `labels.json` from a folder; checks it was trained over this encoder and query prefix. */
  static async load(dir: string, embedder: { id: string; dim: number; spec: { query_prefix: string } }): Promise<OnnxHead> {
    let info: HeadInfo;
    try {
      info = JSON.parse(await readFile(join(dir, "labels.json"), "utf8")) as HeadInfo;
    } catch (e) {
      throw new AppError("model_missing", `no head in ${dir} (labels.json unreadable): run the train script`, { cause: e });
    }
    if (info.embedder !== embedder.id || info.query_prefix !== embedder.spec.query_prefix) {
      throw new AppError(
        "model_mismatch",
        `${dir} was trained over ${info.embedder} with query prefix ${JSON.stringify(info.query_prefix)}, but the loaded encoder is ${embedder.id} with ${JSON.stringify(embedder.spec.query_prefix)}: retrain it`,
      );
    }
    const session = await ort.InferenceSession.create(join(dir, "head.onnx"), { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" });
    const tfidfPath = join(dir, "tfidf.json");
    return new OnnxHead(info, session, embedder.dim, existsSync(tfidfPath) ? await Tfidf.load(tfidfPath) : null);
  }

  /** Calibrated class probabilities, one row per input vector (`texts` are needed when the head reads n-grams). */
  async probs(vectors: Float32Array[], texts?: string[]): Promise<Float32Array[]> {
    const n = vectors.length;
    const x = new Float32Array(n * this.dim);
    vectors.forEach((v, i) => x.set(v, i * this.dim));
    const feeds: Record<string, ort.Tensor> = { features: new ort.Tensor("float32", x, [n, this.dim]) };
    let matrix: Float32Array | null = null;
    if (this.tfidf) {
      if (!texts || texts.length !== n) throw new AppError("head_input", `${this.info.name} head needs the texts for its n-gram features`);
      const v = this.tfidf.size;
      matrix = this.takeScratch(n * v);
      const t = matrix.subarray(0, n * v);
      texts.forEach((s, i) => this.tfidf!.fill(s, t, i * v));
      feeds.tfidf = new ort.Tensor("float32", t, [n, v]);
    }
    let res: ort.InferenceSession.OnnxValueMapType;
    try {
      res = await this.session.run(feeds, ["probs"]);
    } finally {
      if (matrix) {
        matrix.fill(0, 0, n * this.tfidf!.size);
        if (this.scratch.length < 2 && matrix.length <= 32 * this.tfidf!.size) this.scratch.push(matrix);
      }
    }
    const p = res.probs!.data as Float32Array;
    const c = this.info.labels.length;
    return Array.from({ length: n }, (_, i) => p.slice(i * c, (i + 1) * c));
  }

  /** A zeroed matrix of at least `length` floats from the pool (or a new one; matrices over 32 rows go back to the collector). */
  private takeScratch(length: number): Float32Array {
    const i = this.scratch.findIndex((m) => m.length >= length);
    if (i >= 0) return this.scratch.splice(i, 1)[0]!;
    // Room for 16 rows (an encoder batch) at least, so one pooled matrix serves the common batch sizes.
    return new Float32Array(Math.max(length, 16 * (this.tfidf?.size ?? 0)));
  }

  /** The k most probable labels of one probability row. */
  topK(row: Float32Array, k: number): Scored[] {
    return Array.from(row, (score, i) => ({ label: this.info.labels[i]!, score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, k);
  }

  /** Releases the ONNX session. */
  close(): Promise<void> {
    return this.session.release();
  }
}
