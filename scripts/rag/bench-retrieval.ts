/**
 * ANN benchmark of the vector index at 100k chunks: build time, size on disk and in memory, and single-thread
 * queries/s and p99 latency at the smallest efSearch whose recall@10 against exact search is >= 0.95.
 *
 *   bun run bench:retrieval [--n 100000] [--queries 1000] [--M 16] [--ef-construction 200] [--model DIR]
 *
 * Corpus: real text, perturbed. Every chunk is a window of 1 to 3 consecutive sentences (at most 40 words) taken
 * from the StackFAQ answers (../shared/data/stackfaq/kb.jsonl) and the Markdown in kb/, with a deterministic
 * perturbation (each word dropped with p=0.1, and one word swapped with a word of another sentence with p=0.5), and
 * de-duplicated. Queries: the 375 StackFAQ dev queries plus perturbed windows that are not in the index, embedded
 * as queries. Embeddings come from the shared encoder and are cached in .data/bench/ (the first run embeds 100k
 * texts, several minutes on 2 cores; later runs take seconds), as is the exact top-10 ground truth. The last line is JSON.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import hnswlib from "hnswlib-node";
import { Bm25Index } from "../../src/rag/bm25.ts";
import { chunkDoc } from "../../src/rag/chunker.ts";
import { loadPath } from "../../src/rag/sources.ts";
import { contentHash, sentences } from "../../src/rag/text.ts";
import { loadEmbedder } from "./embedder.ts";
import { progressBar } from "./util.ts";

const { values: a } = parseArgs({
  options: {
    n: { type: "string", default: "100000" },
    queries: { type: "string", default: "1000" },
    M: { type: "string", default: "16" },
    "ef-construction": { type: "string", default: "200" },
    model: { type: "string" },
    stackfaq: { type: "string", default: "../shared/data/stackfaq" },
    cache: { type: "string", default: ".data/bench" },
    target: { type: "string", default: "0.95" },
  },
});
const N = Number(a.n);
const NQ = Number(a.queries);
const M = Number(a.M);
const EFC = Number(a["ef-construction"]);
const TARGET = Number(a.target);
const K = 10;

// ---- corpus -------------------------------------------------------------------------------------------------
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const passages: string[] = [];
for (const line of readFileSync(join(a.stackfaq, "kb.jsonl"), "utf8").split("\n")) {
  if (!line.trim()) continue;
  const r = JSON.parse(line) as { question: string; answer: string };
  passages.push(r.question, r.answer);
}
for (const { docs } of loadPath("kb")) for (const d of docs) for (const c of chunkDoc(d, { maxChars: 1200, overlapChars: 0 })) passages.push(c.text);
const sents = passages.map((p) => sentences(p.replace(/\s+/g, " ")).map((s) => s.trim()).filter((s) => s.split(" ").length >= 3));
const flat = sents.flat();

function generate(count: number, seed: number, exclude: Set<string>): string[] {
  const rand = rng(seed);
  const out: string[] = [];
  const seen = new Set<string>(exclude);
  while (out.length < count) {
    const doc = sents[Math.floor(rand() * sents.length)]!;
    if (!doc.length) continue;
    const start = Math.floor(rand() * doc.length);
    const len = 1 + Math.floor(rand() * 3);
    let words = doc.slice(start, start + len).join(" ").split(" ").slice(0, 40);
    words = words.filter(() => rand() >= 0.1);
    if (rand() < 0.5 && words.length) {
      const other = flat[Math.floor(rand() * flat.length)]!.split(" ");
      words[Math.floor(rand() * words.length)] = other[Math.floor(rand() * other.length)]!;
    }
    const t = words.join(" ");
    if (t.length < 15 || seen.has(t)) continue;
    seen.add(t);
    out.push(t);
  }
  return out;
}

const t0 = performance.now();
const texts = generate(N, 42, new Set());
const devQueries = readFileSync(join(a.stackfaq, "dev_queries.jsonl"), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l).query as string);
const queries = [...devQueries, ...generate(Math.max(0, NQ - devQueries.length), 7, new Set(texts))].slice(0, NQ);
const avgWords = texts.reduce((s, t) => s + t.split(" ").length, 0) / texts.length;
console.log(`corpus: ${texts.length} chunks (avg ${avgWords.toFixed(1)} words) from ${passages.length} passages / ${flat.length} sentences; ${queries.length} queries; generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// ---- embeddings (cached) ------------------------------------------------------------------------------------
const embedder = await loadEmbedder(a.model);
const dim = embedder.dim;
mkdirSync(a.cache, { recursive: true });
const key = contentHash(JSON.stringify([embedder.id, texts.length, texts[0], texts[texts.length - 1], queries.length, queries[queries.length - 1]]), 12);

/** Embeds texts into a cache file, resuming a partial file (append as it goes), and returns the matrix. */
async function embedCached(name: string, items: string[], kind: "query" | "passage"): Promise<Float32Array> {
  const file = join(a.cache, `${name}-${key}.f32`);
  const part = `${file}.part`;
  if (existsSync(file)) return new Float32Array(readFileSync(file).buffer.slice(0));
  let done = existsSync(part) ? Math.floor(statSync(part).size / (dim * 4)) : 0;
  if (done * dim * 4 !== (existsSync(part) ? statSync(part).size : 0)) {
    rmSync(part, { force: true });
    done = 0;
  }
  const bar = progressBar(`embedding ${name}`);
  const bs = 256;
  for (let i = done; i < items.length; i += bs) {
    const vecs = await embedder.embed(items.slice(i, i + bs), kind);
    const buf = new Float32Array(vecs.length * dim);
    vecs.forEach((v, j) => buf.set(v, j * dim));
    appendFileSync(part, new Uint8Array(buf.buffer));
    bar(Math.min(items.length, i + bs), items.length);
  }
  renameSync(part, file);
  return new Float32Array(readFileSync(file).buffer.slice(0));
}

const tEmb = performance.now();
const X = await embedCached("chunks", texts, "passage");
const Q = await embedCached("queries", queries, "query");
const embedS = (performance.now() - tEmb) / 1000;
await embedder.close();
console.log(`embeddings: ${N}×${dim} + ${queries.length} queries (${embedS > 5 ? `embedded in ${embedS.toFixed(0)} s` : "from cache"}, ${a.cache})`);
const row = (m: Float32Array, i: number) => Array.from(m.subarray(i * dim, (i + 1) * dim));
const qRows = queries.map((_, i) => row(Q, i));

// ---- exact ground truth (cached) ----------------------------------------------------------------------------
const gtFile = join(a.cache, `truth-${key}-k${K}.json`);
let truth: number[][];
if (existsSync(gtFile)) truth = JSON.parse(readFileSync(gtFile, "utf8"));
else {
  const tb = performance.now();
  const bf = new hnswlib.BruteforceSearch("cosine", dim);
  bf.initIndex(N);
  for (let i = 0; i < N; i++) bf.addPoint(row(X, i), i);
  truth = qRows.map((q) => bf.searchKnn(q, K).neighbors);
  writeFileSync(gtFile, JSON.stringify(truth));
  console.log(`exact top-${K}: ${((performance.now() - tb) / 1000).toFixed(1)} s (brute force, cached in ${gtFile})`);
}

// ---- build ----------------------------------------------------------------------------------------------------
Bun.gc(true);
const rss0 = process.memoryUsage().rss;
const tb = performance.now();
const index = new hnswlib.HierarchicalNSW("cosine", dim);
index.initIndex({ maxElements: N, m: M, efConstruction: EFC, randomSeed: 100 });
const bar = progressBar(`building HNSW M=${M} efC=${EFC}`);
for (let i = 0; i < N; i++) {
  index.addPoint(row(X, i), i);
  if (i % 1000 === 999) bar(i + 1, N);
}
const buildS = (performance.now() - tb) / 1000;
Bun.gc(true);
const memMB = (process.memoryUsage().rss - rss0) / 2 ** 20;
const dir = join(a.cache, "index");
mkdirSync(dir, { recursive: true });
index.writeIndexSync(join(dir, "hnsw.bin"));
const diskMB = statSync(join(dir, "hnsw.bin")).size / 2 ** 20;
console.log(`build: ${buildS.toFixed(1)} s (${Math.round(N / buildS)} vectors/s, one thread); index on disk ${diskMB.toFixed(1)} MiB; resident growth ${memMB.toFixed(1)} MiB`);
const tl = performance.now();
const loaded = new hnswlib.HierarchicalNSW("cosine", dim);
loaded.readIndexSync(join(dir, "hnsw.bin"));
console.log(`reload from disk: ${((performance.now() - tl) / 1000).toFixed(2)} s`);

// ---- sweep efSearch -----------------------------------------------------------------------------------------
interface Point {
  ef: number;
  recall: number;
  qps: number;
  p50: number;
  p99: number;
}
const sweep: Point[] = [];
for (const ef of [10, 16, 24, 32, 48, 64, 96, 128, 192, 256]) {
  loaded.setEf(ef);
  let hits = 0;
  for (let i = 0; i < qRows.length; i++) {
    const got = new Set(loaded.searchKnn(qRows[i]!, K).neighbors);
    for (const t of truth[i]!) if (got.has(t)) hits++;
  }
  const recall = hits / (qRows.length * K);
  const lat: number[] = [];
  const rounds = 3;
  const ts = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (const q of qRows) {
      const s = performance.now();
      loaded.searchKnn(q, K);
      lat.push(performance.now() - s);
    }
  }
  const qps = (rounds * qRows.length) / ((performance.now() - ts) / 1000);
  lat.sort((x, y) => x - y);
  const p = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!;
  sweep.push({ ef, recall, qps, p50: p(0.5), p99: p(0.99) });
  console.log(`ef=${String(ef).padStart(3)}  recall@10 ${recall.toFixed(4)}  ${Math.round(qps)} q/s/thread  p50 ${p(0.5).toFixed(3)} ms  p99 ${p(0.99).toFixed(3)} ms`);
  if (recall >= 0.995) break;
}
const pick = sweep.find((s) => s.recall >= TARGET) ?? sweep[sweep.length - 1]!;

// The keyword side of hybrid search over the same chunks, for the full-query picture (not part of the ANN target).
const tk = performance.now();
const bm25 = new Bm25Index();
texts.forEach((t, i) => bm25.add(i, t));
const bm25Build = (performance.now() - tk) / 1000;
const klat: number[] = [];
for (const q of queries) {
  const s = performance.now();
  bm25.search(q, 50);
  klat.push(performance.now() - s);
}
klat.sort((x, y) => x - y);
const kp = (f: number) => klat[Math.min(klat.length - 1, Math.floor(f * klat.length))]!;
console.log(`BM25 over the same chunks: index ${bm25Build.toFixed(1)} s; top-50 p50 ${kp(0.5).toFixed(2)} ms, p99 ${kp(0.99).toFixed(2)} ms`);
console.log(`chosen: efSearch=${pick.ef} (smallest with recall@10 >= ${TARGET} against exact search)`);
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    qps_per_thread: Math.round(pick.qps),
    recall_at_10: round(pick.recall, 4),
    p99_ms: round(pick.p99, 3),
    p50_ms: round(pick.p50, 3),
    ef_search: pick.ef,
    n: N,
    dim,
    M,
    ef_construction: EFC,
    build_s: round(buildS, 1),
    index_disk_mib: round(diskMB, 1),
    index_mem_mib: round(memMB, 1),
    bm25_p99_ms: round(kp(0.99), 2),
    model: embedder.id,
  }),
);

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}
