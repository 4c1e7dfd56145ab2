import { tokenize } from "./text.ts";

/** Okapi BM25 parameters. */
export interface Bm25Params {
  k1: number;
  b: number;
}

/** Postings of one term as parallel arrays (keys and term frequencies): compact and fast to scan. */
interface Postings {
  keys: number[];
  tfs: number[];
}

/**
 * In-memory BM25 keyword index over integer keys (the chunk labels), with incremental add/remove. It is rebuilt
 * from the stored chunk texts at load (about 1 s per 100k chunks), so it needs no file of its own.
 */
export class Bm25Index {
  private readonly postings = new Map<string, Postings>();
  private lengths = new Int32Array(1024).fill(-1);
  private scores = new Float64Array(1024);
  private live = 0;
  private totalLen = 0;

  constructor(private readonly p: Bm25Params = { k1: 1.2, b: 0.75 }) {}

  get size(): number {
    return this.live;
  }

  private grow(key: number): void {
    if (key < this.lengths.length) return;
    let n = this.lengths.length;
    while (n <= key) n *= 2;
    const l = new Int32Array(n).fill(-1);
    l.set(this.lengths);
    this.lengths = l;
    this.scores = new Float64Array(n);
  }

  /** Indexes a text under a key (replacing what the key had). */
  add(key: number, text: string): void {
    if (!Number.isInteger(key) || key < 0) throw new RangeError(`BM25 keys are non-negative integers (got ${key})`);
    this.grow(key);
    if (this.lengths[key]! >= 0) this.remove(key);
    const toks = tokenize(text);
    const tf = new Map<string, number>();
    for (const t of toks) tf.set(t, (tf.get(t) ?? 0) + 1);
    for (const [t, n] of tf) {
      let p = this.postings.get(t);
      if (!p) this.postings.set(t, (p = { keys: [], tfs: [] }));
      p.keys.push(key);
      p.tfs.push(n);
    }
    this.lengths[key] = toks.length;
    this.totalLen += toks.length;
    this.live++;
  }

  /** Drops a key; with its text only that text's terms are visited, otherwise every posting list. */
  remove(key: number, text?: string): void {
    const len = key < this.lengths.length ? this.lengths[key]! : -1;
    if (len < 0) return;
    const terms = text !== undefined ? new Set(tokenize(text)) : [...this.postings.keys()];
    for (const t of terms) {
      const p = this.postings.get(t);
      if (!p) continue;
      const i = p.keys.indexOf(key);
      if (i < 0) continue;
      p.keys.splice(i, 1);
      p.tfs.splice(i, 1);
      if (p.keys.length === 0) this.postings.delete(t);
    }
    this.lengths[key] = -1;
    this.totalLen -= len;
    this.live--;
  }

  /** Inverse document frequency of an already tokenized term (the BM25 formula's; unseen terms get the highest). */
  idf(term: string): number {
    const df = this.postings.get(term)?.keys.length ?? 0;
    return Math.log(1 + (this.live - df + 0.5) / (df + 0.5));
  }

  /** Top-k keys by BM25 score for a free-text query. */
  search(query: string, k: number): { key: number; score: number }[] {
    const n = this.live;
    if (n === 0 || k <= 0) return [];
    const avg = this.totalLen / n || 1;
    const { k1, b } = this.p;
    const scores = this.scores;
    const lengths = this.lengths;
    const touched: number[] = [];
    for (const t of new Set(tokenize(query))) {
      const p = this.postings.get(t);
      if (!p) continue;
      const idf = Math.log(1 + (n - p.keys.length + 0.5) / (p.keys.length + 0.5));
      const { keys, tfs } = p;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const tf = tfs[i]!;
        if (scores[key] === 0) touched.push(key);
        scores[key]! += (idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * lengths[key]!) / avg));
      }
    }
    // Bounded min-heap of the best k, then reset the touched score slots for the next query.
    const heap: { key: number; score: number }[] = [];
    const worse = (x: { key: number; score: number }, y: { key: number; score: number }) => x.score < y.score || (x.score === y.score && x.key > y.key);
    for (const key of touched) {
      const e = { key, score: scores[key]! };
      scores[key] = 0;
      if (heap.length < k) {
        heap.push(e);
        let i = heap.length - 1;
        while (i > 0) {
          const parent = (i - 1) >> 1;
          if (!worse(heap[i]!, heap[parent]!)) break;
          [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
          i = parent;
        }
      } else if (worse(heap[0]!, e)) {
        heap[0] = e;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && worse(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && worse(heap[r]!, heap[m]!)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m]!, heap[i]!];
          i = m;
        }
      }
    }
    return heap.sort((x, y) => y.score - x.score || x.key - y.key);
  }
}
