import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import { Bm25Index } from "./bm25.ts";
import { chunkDoc, embedText } from "./chunker.ts";
import { contentHash } from "./text.ts";
import type { Chunk, Embedder, Passage, RagParams, Retriever, SourceDoc, StoredChunk } from "./types.ts";
import { PROBE_TEXT, VectorIndex } from "./vectors.ts";

/** A document as recorded in a collection: its content hash decides whether a re-ingest does any work. */
interface DocRecord {
  id: string;
  hash: string;
  origin: string;
  source: string;
  title: string;
  chunk_ids: string[];
}

/** What an ingest did. */
export interface SyncStats {
  docs: number;
  unchanged: number;
  added: number;
  updated: number;
  deleted: number;
  chunks: number;
  /** Chunks whose text was new and had to be embedded. */
  embedded: number;
  /** Chunks of changed documents whose text was unchanged, so their vectors were kept. */
  reused: number;
  removed: number;
  ms: number;
}

/** Progress callback of an ingest: `done` of `total` chunks embedded. */
export type Progress = (done: number, total: number) => void;

/** Options of a collection. */
export interface CollectionOptions {
  dir: string;
  name: string;
  embedder: Embedder;
  params: RagParams;
  /** An index built by another model: "refuse" throws; "reembed" re-embeds the stored chunk texts with this model. */
  onModelMismatch?: "refuse" | "reembed";
  log?: Logger;
  /** Texts per embed call during ingestion. */
  batchSize?: number;
  /**
   * Delay writes after an update by this many ms, coalescing bursts (for collections with a durable log of their
   * own, like past tickets); 0 writes at once. `flush()` writes anything pending.
   */
  saveDelayMs?: number;
}

/** A keyword+dense candidate before it becomes a Passage. */
interface Candidate {
  label: number;
  dense?: { rank: number; sim: number };
  bm25?: { rank: number; score: number };
  fused: number;
}

const STORE_FORMAT = 1;

/**
 * One searchable collection (the knowledge base, or past tickets): chunks + metadata (`chunks.jsonl`, `docs.json`),
 * an HNSW vector index and a BM25 index, kept consistent under incremental updates. Writes are serialised.
 */
export class Collection {
  private readonly chunks = new Map<string, StoredChunk>();
  private readonly byLabel = new Map<number, StoredChunk>();
  private readonly docs = new Map<string, DocRecord>();
  private readonly bm25 = new Bm25Index();
  private vectors!: VectorIndex;
  private nextLabel = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private dirty = false;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;

  private constructor(private readonly o: CollectionOptions) {}

  /** Opens (or creates) the collection stored in `o.dir`. */
  static async open(o: CollectionOptions): Promise<Collection> {
    const c = new Collection(o);
    await c.load();
    return c;
  }

  get name(): string {
    return this.o.name;
  }

  /** Number of documents and chunks, and bytes of the index files on disk. */
  stats(): { docs: number; chunks: number; bytes: number } {
    let bytes = 0;
    for (const f of ["hnsw.bin", "vectors.json", "chunks.jsonl", "docs.json"]) {
      const p = join(this.o.dir, f);
      if (existsSync(p)) bytes += statSync(p).size;
    }
    return { docs: this.docs.size, chunks: this.chunks.size, bytes };
  }

  /** Document ids recorded from an origin (a folder or file path), or all. */
  docIds(origin?: string): string[] {
    return [...this.docs.values()].filter((d) => origin === undefined || d.origin === origin).map((d) => d.id);
  }

  /** Whether a document is present. */
  has(docId: string): boolean {
    return this.docs.has(docId);
  }

  private async load(): Promise<void> {
    const { dir, embedder, params } = this.o;
    mkdirSync(dir, { recursive: true });
    const docsPath = join(dir, "docs.json");
    const chunksPath = join(dir, "chunks.jsonl");
    let stored: StoredChunk[] = [];
    if (existsSync(docsPath) && existsSync(chunksPath)) {
      const d = JSON.parse(readFileSync(docsPath, "utf8")) as { format: number; next_label: number; docs: DocRecord[] };
      if (d.format !== STORE_FORMAT) throw new AppError("index_format", `collection ${dir} has format ${d.format}, expected ${STORE_FORMAT}`, { status: 409 });
      for (const r of d.docs) this.docs.set(r.id, r);
      this.nextLabel = d.next_label;
      stored = readFileSync(chunksPath, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as StoredChunk);
    }
    const [probe] = await embedder.embed([PROBE_TEXT], "passage");
    try {
      this.vectors = VectorIndex.open(dir, embedder.id, embedder.dim, params, probe);
      if (stored.length && this.vectors.count !== stored.length) {
        throw new AppError("index_inconsistent", `collection ${dir}: ${stored.length} chunks but ${this.vectors.count} vectors`, { status: 500 });
      }
    } catch (e) {
      const code = (e as AppError).code;
      if (!(this.o.onModelMismatch === "reembed" && (code === "index_model_mismatch" || code === "index_dim_mismatch" || code === "index_inconsistent"))) throw e;
      this.o.log?.warn({ component: "rag", collection: this.o.name, reason: (e as Error).message }, "re-embedding the stored chunks");
      VectorIndex.destroy(dir);
      this.vectors = VectorIndex.open(dir, embedder.id, embedder.dim, params, probe);
      const vecs = await this.embedAll(stored.map((c) => embedText(c)));
      this.vectors.reserve(stored.length);
      stored.forEach((c, i) => this.vectors.add(c.label, vecs[i]!));
      this.dirty = true;
    }
    for (const c of stored) this.index(c);
    if (this.dirty) await this.save();
  }

  private index(c: StoredChunk): void {
    this.chunks.set(c.id, c);
    this.byLabel.set(c.label, c);
    this.bm25.add(c.label, embedText(c));
  }

  private unindex(c: StoredChunk, keepVector = false): void {
    this.chunks.delete(c.id);
    this.byLabel.delete(c.label);
    this.bm25.remove(c.label, embedText(c));
    if (!keepVector) this.vectors.remove(c.label);
  }

  private async embedAll(texts: string[], progress?: Progress): Promise<Float32Array[]> {
    const bs = this.o.batchSize ?? 32;
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += bs) {
      out.push(...(await this.o.embedder.embed(texts.slice(i, i + bs), "passage")));
      progress?.(out.length, texts.length);
    }
    return out;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private docHash(d: SourceDoc): string {
    const { chunkChars, overlapChars } = this.o.params;
    return contentHash(JSON.stringify([d.title, d.format, d.url ?? "", d.source, d.meta ?? {}, chunkChars, overlapChars, d.text]));
  }

  /**
   * Makes the collection match `docs` for one origin: new and changed documents are (re)chunked and only chunks
   * with new text are embedded; documents of that origin that are gone are deleted (unless `deleteMissing` is false).
   */
  sync(origin: string, docs: SourceDoc[], opts: { deleteMissing?: boolean; progress?: Progress } = {}): Promise<SyncStats> {
    return this.serial(() => this.syncNow(origin, docs, opts.deleteMissing ?? true, opts.progress));
  }

  /** Adds or replaces documents without touching others of their origin. */
  upsert(docs: SourceDoc[], progress?: Progress): Promise<SyncStats> {
    return this.serial(() => this.syncNow("", docs, false, progress));
  }

  /** Deletes documents by id; returns how many existed. */
  remove(docIds: string[]): Promise<number> {
    return this.serial(async () => {
      let n = 0;
      for (const id of docIds) if (this.dropDoc(id)) n++;
      if (n) await this.save();
      return n;
    });
  }

  private dropDoc(id: string): number {
    const rec = this.docs.get(id);
    if (!rec) return 0;
    let n = 0;
    for (const cid of rec.chunk_ids) {
      const c = this.chunks.get(cid);
      if (c) {
        this.unindex(c);
        n++;
      }
    }
    this.docs.delete(id);
    this.dirty = true;
    return n;
  }

  private async syncNow(origin: string, docs: SourceDoc[], deleteMissing: boolean, progress?: Progress): Promise<SyncStats> {
    const t0 = performance.now();
    const s: SyncStats = { docs: docs.length, unchanged: 0, added: 0, updated: 0, deleted: 0, chunks: 0, embedded: 0, reused: 0, removed: 0, ms: 0 };
    const seen = new Set<string>();
    const work: { doc: SourceDoc; hash: string }[] = [];
    for (const d of docs) {
      if (seen.has(d.id)) throw new AppError("duplicate_doc", `document id ${d.id} appears twice in ${origin || "the batch"}`, { status: 400 });
      seen.add(d.id);
      const hash = this.docHash(d);
      const rec = this.docs.get(d.id);
      if (rec && rec.hash === hash) s.unchanged++;
      else work.push({ doc: d, hash });
    }
    // Plan without touching the live index, embed (the only await), then apply in one synchronous step, so a
    // search running meanwhile sees either the old or the new version of a document, never neither.
    const plans: { doc: SourceDoc; hash: string; old?: DocRecord; keep: StoredChunk[]; ids: string[] }[] = [];
    const pending: { chunk: Chunk; label: number }[] = [];
    for (const { doc, hash } of work) {
      const old = this.docs.get(doc.id);
      const oldByHash = new Map<string, StoredChunk[]>();
      for (const cid of old?.chunk_ids ?? []) {
        const c = this.chunks.get(cid);
        if (c) oldByHash.set(c.hash, [...(oldByHash.get(c.hash) ?? []), c]);
      }
      const fresh = chunkDoc(doc, { maxChars: this.o.params.chunkChars, overlapChars: this.o.params.overlapChars });
      const keep: StoredChunk[] = [];
      for (const ch of fresh) {
        const same = oldByHash.get(ch.hash)?.shift();
        if (same) keep.push({ ...ch, label: same.label });
        else pending.push({ chunk: ch, label: this.nextLabel++ });
      }
      plans.push({ doc, hash, old, keep, ids: fresh.map((c) => c.id) });
    }
    const vecs = pending.length ? await this.embedAll(pending.map((p) => embedText(p.chunk)), progress) : [];

    if (deleteMissing) {
      for (const rec of [...this.docs.values()]) {
        if (rec.origin === origin && !seen.has(rec.id)) {
          s.removed += this.dropDoc(rec.id);
          s.deleted++;
        }
      }
    }
    for (const { doc, hash, old, keep, ids } of plans) {
      if (old) s.updated++;
      else s.added++;
      const kept = new Set(keep.map((k) => k.label));
      for (const cid of old?.chunk_ids ?? []) {
        const c = this.chunks.get(cid);
        if (!c) continue;
        this.unindex(c, kept.has(c.label));
        if (!kept.has(c.label)) s.removed++;
      }
      for (const k of keep) this.index(k);
      s.reused += keep.length;
      s.chunks += ids.length;
      this.docs.set(doc.id, { id: doc.id, hash, origin: origin || old?.origin || doc.origin, source: doc.source, title: doc.title, chunk_ids: ids });
      this.dirty = true;
    }
    this.vectors.reserve(pending.length);
    pending.forEach((p, i) => {
      this.vectors.add(p.label, vecs[i]!);
      this.index({ ...p.chunk, label: p.label });
    });
    s.embedded = pending.length;
    if (this.dirty) {
      if (this.o.saveDelayMs) this.scheduleSave();
      else await this.save();
    }
    s.ms = Math.round(performance.now() - t0);
    return s;
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.flush().catch((e) => this.o.log?.error({ collection: this.o.name, err: (e as Error).message }, "index save failed"));
    }, this.o.saveDelayMs);
    this.saveTimer.unref?.();
  }

  /** Waits for pending writes and persists anything not yet saved. */
  flush(): Promise<void> {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = null;
    }
    return this.serial(async () => {
      if (this.dirty) await this.save();
    });
  }

  /** Persists chunks, documents and vectors (each file written to a temp name and renamed). */
  async save(): Promise<void> {
    const { dir } = this.o;
    mkdirSync(dir, { recursive: true });
    this.vectors.save();
    const lines = [...this.chunks.values()].map((c) => JSON.stringify(c)).join("\n");
    writeFileSync(join(dir, "chunks.jsonl.tmp"), lines ? lines + "\n" : "");
    renameSync(join(dir, "chunks.jsonl.tmp"), join(dir, "chunks.jsonl"));
    writeFileSync(join(dir, "docs.json.tmp"), JSON.stringify({ format: STORE_FORMAT, collection: this.o.name, model_id: this.o.embedder.id, next_label: this.nextLabel, docs: [...this.docs.values()] }));
    renameSync(join(dir, "docs.json.tmp"), join(dir, "docs.json"));
    this.dirty = false;
  }

  /** BM25 inverse document frequency of a tokenized term in this collection. */
  idf(term: string): number {
    return this.bm25.idf(term);
  }

  /** The stored vector of a chunk (for reuse and exact re-scoring). */
  vectorOf(label: number): Float32Array {
    return this.vectors.get(label);
  }

  /**
   * Hybrid search: dense (HNSW) and BM25 candidates fused by reciprocal rank. Every passage gets the cosine
   * similarity to the query as `score`, including keyword-only hits, so one threshold applies to all.
   */
  search(qvec: Float32Array, qtext: string, k = this.o.params.candidates): Passage[] {
    const p = this.o.params;
    const cands = new Map<number, Candidate>();
    const n = Math.max(k, p.candidates);
    this.vectors.search(qvec, n).forEach((h, i) => {
      if (!this.byLabel.has(h.label)) return;
      cands.set(h.label, { label: h.label, dense: { rank: i + 1, sim: h.sim }, fused: 1 / (p.rrfK + i + 1) });
    });
    if (p.bm25Weight > 0) {
      this.bm25.search(qtext, n).forEach((h, i) => {
        const c = cands.get(h.key) ?? { label: h.key, fused: 0 };
        c.bm25 = { rank: i + 1, score: h.score };
        c.fused += p.bm25Weight / (p.rrfK + i + 1);
        cands.set(h.key, c);
      });
    }
    const out: Passage[] = [];
    for (const c of cands.values()) {
      const ch = this.byLabel.get(c.label);
      if (!ch) continue;
      const retrievers: Retriever[] = [];
      const ranks: Partial<Record<Retriever, number>> = {};
      if (c.dense) {
        retrievers.push("dense");
        ranks.dense = c.dense.rank;
      }
      if (c.bm25) {
        retrievers.push("bm25");
        ranks.bm25 = c.bm25.rank;
      }
      const sim = c.dense ? c.dense.sim : dot(qvec, this.vectors.get(c.label));
      out.push({
        chunk_id: ch.id,
        doc_id: ch.doc_id,
        collection: this.o.name,
        title: ch.title,
        section: ch.section,
        text: ch.text,
        source: ch.source,
        url: ch.url,
        updated_at: ch.updated_at,
        meta: ch.meta,
        score: round(sim),
        fused: c.fused,
        retrievers,
        ranks,
        bm25: c.bm25 ? round(c.bm25.score) : undefined,
      });
    }
    out.sort((a, b) => b.fused - a.fused || b.score - a.score);
    return out;
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
