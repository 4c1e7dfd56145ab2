import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import hnswlib from "hnswlib-node";
import { AppError } from "../errors.ts";

const { HierarchicalNSW } = hnswlib;
type Hnsw = InstanceType<typeof HierarchicalNSW>;

/** What is stored beside the HNSW file: the model that made the vectors and the graph parameters. */
export interface VectorMeta {
  format: 1;
  model_id: string;
  dim: number;
  space: "cosine";
  M: number;
  efConstruction: number;
  capacity: number;
  /** The model's vector for PROBE_TEXT when the index was made: catches an encoding change under the same id. */
  probe?: number[];
}

/** A fixed passage embedded at every open; its vector must match the stored one (cosine >= 0.999). */
export const PROBE_TEXT = "Probe passage for the index fingerprint: reset your password from the sign-in page.";

/** HNSW parameters of a vector index. */
export interface HnswParams {
  M: number;
  efConstruction: number;
  efSearch: number;
}

/** Raised when an index on disk was built with another embedding model (its vectors are not comparable). */
export function modelMismatch(dir: string, found: string, expected: string): AppError {
  return new AppError("index_model_mismatch", `index in ${dir} was built with model ${found}, not ${expected}; rebuild it (kb:ingest --rebuild)`, {
    status: 409,
    retriable: false,
    details: { found, expected },
  });
}

/**
 * A cosine HNSW index (hnswlib-node) persisted as `hnsw.bin` + `vectors.json`. Labels are chosen by the caller;
 * deletes are `markDelete`d and their slots reused by later adds, so the file does not grow with churn.
 */
export class VectorIndex {
  private constructor(
    private readonly dir: string,
    private readonly index: Hnsw,
    readonly meta: VectorMeta,
    private efSearch: number,
    private deleted: number,
  ) {}

  /** Opens the index in `dir`, or creates an empty one; refuses an index made by another model. */
  static open(dir: string, modelId: string, dim: number, p: HnswParams, probe?: Float32Array): VectorIndex {
    const metaPath = join(dir, "vectors.json");
    const binPath = join(dir, "hnsw.bin");
    if (existsSync(metaPath) && existsSync(binPath)) {
      const meta = JSON.parse(readFileSync(metaPath, "utf8")) as VectorMeta & { deleted?: number };
      if (meta.model_id !== modelId) throw modelMismatch(dir, meta.model_id, modelId);
      if (meta.dim !== dim) throw new AppError("index_dim_mismatch", `index in ${dir} has dim ${meta.dim}, embedder has ${dim}`, { status: 409 });
      if (probe && meta.probe && meta.probe.length === probe.length) {
        let cos = 0;
        for (let i = 0; i < probe.length; i++) cos += probe[i]! * meta.probe[i]!;
        if (cos < 0.999) throw modelMismatch(dir, `${meta.model_id} (it encodes the probe passage differently: cosine ${cos.toFixed(4)})`, modelId);
      }
      const index = new HierarchicalNSW("cosine", dim);
      index.readIndexSync(binPath, true);
      // readIndex resets ef to 10.
      index.setEf(p.efSearch);
      // An index from before fingerprints adopts the current one (its model id already matched).
      const probeMeta = meta.probe ?? (probe ? Array.from(probe, (x) => Math.round(x * 1e6) / 1e6) : undefined);
      return new VectorIndex(dir, index, { ...meta, probe: probeMeta, capacity: index.getMaxElements() }, p.efSearch, meta.deleted ?? 0);
    }
    const capacity = 1024;
    const index = new HierarchicalNSW("cosine", dim);
    index.initIndex({ maxElements: capacity, m: p.M, efConstruction: p.efConstruction, randomSeed: 100, allowReplaceDeleted: true });
    index.setEf(p.efSearch);
    const meta: VectorMeta = { format: 1, model_id: modelId, dim, space: "cosine", M: p.M, efConstruction: p.efConstruction, capacity };
    if (probe) meta.probe = Array.from(probe, (x) => Math.round(x * 1e6) / 1e6);
    return new VectorIndex(dir, index, meta, p.efSearch, 0);
  }

  /** Live (not deleted) vectors. */
  get count(): number {
    return this.index.getCurrentCount() - this.deleted;
  }

  /** Slots in use in the graph, deleted ones included (a reused slot does not add one). */
  get slots(): number {
    return this.index.getCurrentCount();
  }

  /** Makes room for `n` more vectors (doubling), so bulk adds do not resize one by one. */
  reserve(n: number): void {
    const need = this.index.getCurrentCount() + n;
    if (need <= this.index.getMaxElements()) return;
    let cap = Math.max(1024, this.index.getMaxElements());
    while (cap < need) cap *= 2;
    this.index.resizeIndex(cap);
    this.meta.capacity = cap;
  }

  /** Adds one vector, reusing a deleted slot when there is one. */
  add(label: number, v: Float32Array): void {
    if (this.deleted > 0) {
      this.index.addPoint(Array.from(v), label, true);
      this.deleted--;
      return;
    }
    this.reserve(1);
    this.index.addPoint(Array.from(v), label, false);
  }

  /** Marks a vector deleted (its slot is reused by a later add). */
  remove(label: number): void {
    this.index.markDelete(label);
    this.deleted++;
  }

  /** The stored (normalised) vector of a label. */
  get(label: number): Float32Array {
    return Float32Array.from(this.index.getPoint(label));
  }

  setEf(ef: number): void {
    this.efSearch = ef;
    this.index.setEf(ef);
  }

  /** Approximate k nearest neighbours with cosine similarity (1 - distance). */
  search(q: Float32Array | number[], k: number, filter?: (label: number) => boolean): { label: number; sim: number }[] {
    const n = Math.min(k, this.count);
    if (n <= 0) return [];
    if (this.efSearch < n) this.index.setEf(n);
    const r = this.index.searchKnn(Array.isArray(q) ? q : Array.from(q), n, filter);
    if (this.efSearch < n) this.index.setEf(this.efSearch);
    return r.neighbors.map((label, i) => ({ label, sim: 1 - r.distances[i]! }));
  }

  /** Writes the index and its meta atomically (temp file + rename); returns the bytes on disk. */
  save(): number {
    mkdirSync(this.dir, { recursive: true });
    const bin = join(this.dir, "hnsw.bin");
    this.index.writeIndexSync(`${bin}.tmp`);
    renameSync(`${bin}.tmp`, bin);
    const meta = { ...this.meta, deleted: this.deleted, count: this.count };
    writeFileSync(join(this.dir, "vectors.json.tmp"), JSON.stringify(meta, null, 1));
    renameSync(join(this.dir, "vectors.json.tmp"), join(this.dir, "vectors.json"));
    return statSync(bin).size;
  }

  /** Deletes the files of an index (used by a rebuild). */
  static destroy(dir: string): void {
    rmSync(join(dir, "hnsw.bin"), { force: true });
    rmSync(join(dir, "vectors.json"), { force: true });
  }
}
