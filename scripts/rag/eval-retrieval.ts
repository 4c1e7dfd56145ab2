/**
 * Retrieval evaluation: indexes a KB from scratch and scores queries with gold document ids.
 *
 *   bun run eval:retrieval --kb ../shared/data/stackfaq/kb_threads.jsonl --queries ../shared/data/stackfaq/dev_queries.jsonl
 *
 * KB: a JSONL ({id,title,text} | StackFAQ {thread_id,question,answers[]} | {faq_id,thread_id,question,answer}) or
 * a folder. Queries: JSONL {query_id, query, thread_id | doc_id}. Gold matching is at thread level (meta.thread_id,
 * else the document id). Options: --mode hybrid|dense|bm25, --chunk-chars N, --overlap N, --bm25-weight W,
 * --rrf-k K, --candidates N, --negatives FILE (off-domain queries, .csv first column or .jsonl query/text, to tune
 * the abstain threshold), --model DIR, --limit N. The last line is JSON.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Collection } from "../../src/rag/collection.ts";
import { loadPath } from "../../src/rag/sources.ts";
import { DEFAULT_PARAMS, type Passage, type RagParams } from "../../src/rag/types.ts";
import { loadEmbedder } from "./embedder.ts";
import { tempDir } from "./util.ts";

const { values: a } = parseArgs({
  options: {
    kb: { type: "string" },
    queries: { type: "string" },
    mode: { type: "string", default: "hybrid" },
    "chunk-chars": { type: "string" },
    overlap: { type: "string" },
    "bm25-weight": { type: "string" },
    "rrf-k": { type: "string" },
    candidates: { type: "string" },
    negatives: { type: "string" },
    "negatives-limit": { type: "string", default: "300" },
    model: { type: "string" },
    limit: { type: "string" },
  },
});
if (!a.kb || !a.queries) {
  console.error("usage: eval:retrieval --kb FILE --queries FILE [--mode hybrid|dense|bm25] [--negatives FILE]");
  process.exit(2);
}

const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
const params: RagParams = {
  ...DEFAULT_PARAMS,
  chunkChars: num(a["chunk-chars"], DEFAULT_PARAMS.chunkChars),
  overlapChars: num(a.overlap, DEFAULT_PARAMS.overlapChars),
  bm25Weight: a.mode === "dense" ? 0 : num(a["bm25-weight"], DEFAULT_PARAMS.bm25Weight),
  rrfK: num(a["rrf-k"], DEFAULT_PARAMS.rrfK),
  candidates: num(a.candidates, DEFAULT_PARAMS.candidates),
};

interface Query {
  query_id: string;
  query: string;
  gold: string;
}
let queries: Query[] = readFileSync(a.queries, "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => {
    const r = JSON.parse(l);
    return { query_id: r.query_id ?? r.id, query: r.query, gold: r.thread_id ?? r.doc_id };
  });
if (a.limit) queries = queries.slice(0, Number(a.limit));

const embedder = await loadEmbedder(a.model);
const { dir, cleanup } = tempDir();
const c = await Collection.open({ dir, name: "eval", embedder, params, batchSize: 32 });
const t0 = performance.now();
let chunks = 0;
let docs = 0;
for (const { origin, docs: d } of loadPath(a.kb)) {
  const s = await c.sync(origin, d, {
    progress: (done, total) => process.stderr.write(`\rembedding ${done}/${total} chunks`),
  });
  chunks += s.chunks;
  docs += s.docs;
}
const buildMs = performance.now() - t0;
process.stderr.write("\n");
console.log(`indexed ${docs} docs, ${chunks} chunks in ${(buildMs / 1000).toFixed(1)} s (${embedder.id}; chunk ${params.chunkChars}/${params.overlapChars} chars)`);

const goldOf = (p: Passage) => p.meta?.thread_id ?? p.doc_id;
const t1 = performance.now();
const qvecs = await embedder.embed(queries.map((q) => q.query), "query");
const embedMs = performance.now() - t1;
interface Scored {
  result: { recall_at_1: number; recall_at_5: number; recall_at_10: number; mrr_at_10: number };
  topScores: number[];
  misses: string[];
  searchMs: number;
}

/** Scores every query at the current params; the document of a passage is its thread (or its doc id). */
function score(): Scored {
  let r1 = 0;
  let r5 = 0;
  let r10 = 0;
  let mrr = 0;
  const topScores: number[] = [];
  const misses: string[] = [];
  const ts = performance.now();
  queries.forEach((q, i) => {
    let ranked = c.search(qvecs[i]!, q.query, 100);
    if (a.mode === "bm25") ranked = ranked.filter((p) => p.ranks.bm25 !== undefined).sort((x, y) => x.ranks.bm25! - y.ranks.bm25!);
    const docsRanked: string[] = [];
    for (const p of ranked) {
      const g = goldOf(p);
      if (!docsRanked.includes(g)) docsRanked.push(g);
    }
    // Same rule as the service: the best cosine among the candidates decides abstention.
    topScores.push(Math.max(0, ...ranked.map((p) => p.score)));
    const rank = docsRanked.indexOf(q.gold) + 1;
    if (rank === 1) r1++;
    if (rank >= 1 && rank <= 5) r5++;
    if (rank >= 1 && rank <= 10) {
      r10++;
      mrr += 1 / rank;
    }
    if (rank !== 1 && misses.length < 12) misses.push(`  ${q.query_id} rank ${rank || ">10"}: ${q.query.slice(0, 70)} → got ${docsRanked[0]} want ${q.gold}`);
  });
  const n = queries.length;
  return {
    result: { recall_at_1: round(r1 / n), recall_at_5: round(r5 / n), recall_at_10: round(r10 / n), mrr_at_10: round(mrr / n) },
    topScores,
    misses,
    searchMs: performance.now() - ts,
  };
}

// --bm25-weight takes a comma list to compare fusion weights on one index; the first value is reported.
const weights = a.mode === "hybrid" && a["bm25-weight"]?.includes(",") ? a["bm25-weight"].split(",").map(Number) : [params.bm25Weight];
const runs = weights.map((w) => {
  params.bm25Weight = w;
  const r = score();
  if (weights.length > 1) console.log(`bm25 weight ${w}: ${JSON.stringify(r.result)}`);
  return r;
});
params.bm25Weight = weights[0]!;
const { result, topScores, misses, searchMs } = runs[0]!;
const n = queries.length;
console.log(`mode ${a.mode}; ${n} queries; query embedding ${(embedMs / n).toFixed(1)} ms/query, search ${(searchMs / n).toFixed(2)} ms/query`);
console.log("some misses:\n" + misses.join("\n"));

if (a.negatives) {
  const raw = readFileSync(a.negatives, "utf8").split("\n").filter((l) => l.trim());
  const negTexts = (a.negatives.endsWith(".csv") ? raw.slice(1).map(csvFirst) : raw.map((l) => JSON.parse(l).query ?? JSON.parse(l).text))
    .filter((_, i) => i % 7 === 0)
    .slice(0, num(a["negatives-limit"], 300));
  const nvecs = await embedder.embed(negTexts, "query");
  const negTop = negTexts.map((t, i) => Math.max(0, ...c.search(nvecs[i]!, t, 100).map((p) => p.score)));
  console.log(`abstain threshold on top cosine (${n} in-domain, ${negTexts.length} off-domain queries):`);
  let best = { t: 0, acc: 0 };
  for (let t = 0.5; t <= 0.9001; t += 0.01) {
    const answered = topScores.filter((s) => s >= t).length / n;
    const rejected = negTop.filter((s) => s < t).length / negTop.length;
    const acc = (answered + rejected) / 2;
    if (acc > best.acc) best = { t, acc };
    if (Math.round(t * 100) % 2 === 0) console.log(`  t=${t.toFixed(2)} in-domain answered ${answered.toFixed(3)}  off-domain abstained ${rejected.toFixed(3)}`);
  }
  console.log(`best balanced accuracy ${best.acc.toFixed(3)} at t=${best.t.toFixed(2)}`);
}

await embedder.close();
cleanup();
console.log(JSON.stringify(result));

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function csvFirst(line: string): string {
  const q = /^"((?:[^"]|"")*)",/.exec(line);
  return q ? q[1]!.replace(/""/g, '"') : line.replace(/,[^,]*$/, "");
}
