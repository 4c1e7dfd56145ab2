import { tokenize } from "./text.ts";

/** Okapi BM25 parameters. */
export interface Bm25Params {
  k1: number;
  b: number;
}

/**
 * In-memory BM25 keyword index over integer keys (the chunk labels), with incremental add/remove. It is rebuilt
 * from the stored chunk texts at load (about 1 s per 100k chunks), so it needs no file of its own.
 */
export class Bm25Index {
  private readonly postings = new Map<string, Map<number, number>>();
  private readonly lengths = new Map<number, number>();
  private totalLen = 0;

  constructor(private readonly p: Bm25Params = { k1: 1.2, b: 0.75 }) {}

  get size(): number {
    return this.lengths.size;
  }

  /** Indexes a text under a key (replacing what the key had). */
  add(key: number, text: string): void {
    if (this.lengths.has(key)) this.remove(key);
    const toks = tokenize(text);
    const tf = new Map<string, number>();
    for (const t of toks) tf.set(t, (tf.get(t) ?? 0) + 1);
    for (const [t, n] of tf) {
      let p = this.postings.get(t);
      if (!p) this.postings.set(t, (p = new Map()));
      p.set(key, n);
    }
    this.lengths.set(key, toks.length);
    this.totalLen += toks.length;
  }

  /** Drops a key; its terms are found again by scanning only the postings that mention it. */
  remove(key: number, text?: string): void {
    const len = this.lengths.get(key);
    if (len === undefined) return;
    const terms = text !== undefined ? new Set(tokenize(text)) : this.postings.keys();
    for (const t of terms) {
      const p = this.postings.get(t);
      if (p?.delete(key) && p.size === 0) this.postings.delete(t);
    }
    this.lengths.delete(key);
    this.totalLen -= len;
  }

  /** Top-k keys by BM25 score for a free-text query. */
  search(query: string, k: number): { key: number; score: number }[] {
    const n = this.lengths.size;
    if (n === 0) return [];
    const avg = this.totalLen / n || 1;
    const { k1, b } = this.p;
    const scores = new Map<number, number>();
    for (const t of new Set(tokenize(query))) {
      const p = this.postings.get(t);
      if (!p) continue;
      const idf = Math.log(1 + (n - p.size + 0.5) / (p.size + 0.5));
      for (const [key, tf] of p) {
        const dl = this.lengths.get(key)!;
        const s = (idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * dl) / avg));
        scores.set(key, (scores.get(key) ?? 0) + s);
      }
    }
    const out: { key: number; score: number }[] = [];
    for (const [key, score] of scores) out.push({ key, score });
    out.sort((a, b) => b.score - a.score || a.key - b.key);
    return out.slice(0, k);
  }
}
