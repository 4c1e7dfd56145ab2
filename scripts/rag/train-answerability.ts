/**
 * train:answerability:kb — fits a KB-specific answerability head (src/rag/answerability.ts) and measures it.
 *
 *   bun run train:answerability:kb [--kb FILE] [--queries FILE] [--folds 5] [--max-present-abstain 0.05]
 *                               [--out models/answerability/stackfaq.json] [--dry-run]
 *
 * Data: a KB of threads/documents and queries labelled with their gold thread (default: the StackFAQ dev queries
 * in ../shared/data/stackfaq, read in place). Every query gives two rows: "answerable" with the full KB and
 * "not answerable" with the gold thread's passages taken out of the ranked list (what the KB would return without it).
 *
 * Measurement is held out: folds are split by gold thread, the head and its cut-off are chosen on the other folds
 * (cut-off = the highest that keeps abstention with the gold present at or below --max-present-abstain, the cosine
 * threshold included), then applied to the held-out fold. The same is done for a cosine threshold alone, so the
 * table compares both at their own held-out operating points. The head written to --out is then fitted on all rows.
 * A head is specific to the KB it was trained on (cosine levels and title styles differ between KBs: the StackFAQ
 * head abstains on most Northwind questions): the product's default is the multi-KB head of train:answerability;
 * point RAG_ANSWERABILITY_HEAD at a head from this script to use it instead.
 * The last line is JSON.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/config.ts";
import { loadEmbedder } from "../../src/ml/index.ts";
import { ANSWERABILITY_FEATURES, DEEP_K, answerabilityScore, featureVector, fitAnswerability, type AnswerabilityHead } from "../../src/rag/answerability.ts";
import { openKnowledge } from "../../src/rag/index.ts";
import { readJsonl } from "../../src/rag/sources.ts";
import { stableHash } from "../../src/ml/data.ts";
import { tempDir } from "./util.ts";
import { auc } from "../lib/metrics.ts";

const ROOT = resolve(import.meta.dir, "../..");
const DATA = resolve(ROOT, "../shared/data/stackfaq");
const { values: a } = parseArgs({
  options: {
    kb: { type: "string", default: join(DATA, "kb_threads.jsonl") },
    queries: { type: "string", default: join(DATA, "dev_queries.jsonl") },
    folds: { type: "string", default: "5" },
    "max-present-abstain": { type: "string", default: "0.05" },
    out: { type: "string", default: join(ROOT, "models/answerability/stackfaq.json") },
    "dry-run": { type: "boolean", default: false },
  },
});
const folds = Number(a.folds);
const maxPresent = Number(a["max-present-abstain"]);
process.chdir(ROOT);
const config = loadConfig(process.env);
const threshold = config.rag.threshold;

const kbPath = resolve(a.kb!);
const threadOfDoc = new Map(readJsonl(kbPath).map((d) => [d.id, d.meta?.thread_id ?? d.id]));
const queries = (await Bun.file(resolve(a.queries!)).text())
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => {
    const r = JSON.parse(l);
    return { id: String(r.query_id ?? r.id), query: String(r.query), gold: String(r.thread_id ?? r.doc_id) };
  });

const embedder = await loadEmbedder({ modelsDir: config.models.dir });
const tmp = tempDir("answerability-");
const kbCopy = join(tmp.dir, "kb.jsonl");
copyFileSync(kbPath, kbCopy);
const knowledge = await openKnowledge({ embedder, dataDir: join(tmp.dir, "index"), kbDir: null, answerability: null, params: { threshold } });
const t0 = performance.now();
const ing = await knowledge.ingest(kbCopy);
console.log(`KB ${kbPath}: ${ing.docs} docs, ${ing.chunks} chunks in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${queries.length} queries; encoder ${embedder.id}; cosine threshold ${threshold}`);

interface Row {
  x: number[];
  y: 0 | 1;
  topCos: number;
  fold: number;
}
const names = [...ANSWERABILITY_FEATURES];
const rows: Row[] = [];
for (const q of queries) {
  const r = await knowledge.search(q.query, { all: true, k: DEEP_K + 1 });
  const fold = stableHash(q.gold) % folds;
  const present = r.passages.slice(0, DEEP_K);
  const removed = r.passages.filter((p) => (threadOfDoc.get(p.doc_id) ?? p.doc_id) !== q.gold).slice(0, DEEP_K);
  for (const [list, y] of [[present, 1], [removed, 0]] as const) {
    const f = await knowledge.answerabilityFeatures(r.query, list);
    rows.push({ x: featureVector(f, names), y, topCos: f.top_cos, fold });
  }
}
await knowledge.close();
tmp.cleanup();

const rate = (xs: boolean[]) => (xs.length ? xs.filter(Boolean).length / xs.length : 0);
/** The highest cut-off on `score` whose abstention on answerable rows stays within the budget (cosine rule included). */
function chooseCut(train: Row[], score: (r: Row) => number): number {
  const pos = train.filter((r) => r.y === 1 && r.topCos >= threshold).map(score).sort((x, y) => x - y);
  const posAll = train.filter((r) => r.y === 1).length;
  const already = train.filter((r) => r.y === 1 && r.topCos < threshold).length;
  const allowed = Math.floor(maxPresent * posAll) - already;
  if (allowed <= 0 || !pos.length) return -Infinity;
  // Abstain when score < cut: the cut may sit just above the `allowed`-th lowest answerable score.
  const v = pos[Math.min(allowed, pos.length) - 1]!;
  const next = pos[Math.min(allowed, pos.length)] ?? v + 1e-6;
  return next > v ? (v + next) / 2 : v;
}
const abstains = (r: Row, s: number, cut: number) => r.topCos < threshold || s < cut;

const cv = { head: { present: [] as boolean[], removed: [] as boolean[] }, cosine: { present: [] as boolean[], removed: [] as boolean[] } };
const heldOut: { y: number; head: number; cos: number }[] = [];
for (let f = 0; f < folds; f++) {
  const train = rows.filter((r) => r.fold !== f);
  const test = rows.filter((r) => r.fold === f);
  const h = fitAnswerability(train.map((r) => r.x), train.map((r) => r.y), names);
  const head = { ...h, format: "answerability/v1", threshold: 0.5, embedder: embedder.id, trained: {} } as AnswerabilityHead;
  const sc = (r: Row) => answerabilityScore(head, Object.fromEntries(names.map((n, i) => [n, r.x[i]!])) as never);
  const cut = chooseCut(train, sc);
  const cosCut = chooseCut(train, (r) => r.topCos);
  for (const r of test) {
    heldOut.push({ y: r.y, head: sc(r), cos: r.topCos });
    (r.y ? cv.head.present : cv.head.removed).push(abstains(r, sc(r), cut));
    (r.y ? cv.cosine.present : cv.cosine.removed).push(abstains(r, r.topCos, cosCut));
  }
}
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const base = { present: rate(rows.filter((r) => r.y === 1).map((r) => r.topCos < threshold)), removed: rate(rows.filter((r) => r.y === 0).map((r) => r.topCos < threshold)) };
console.log(`\nHeld-out abstention (${folds} folds by gold thread; each rule tuned on the other folds to abstain on at most ${pct(maxPresent)} of answerable queries):\n`);
console.log("| rule | abstain, gold present | abstain, gold removed |");
console.log("|---|---|---|");
console.log(`| cosine ≥ ${threshold} only (the product without a head) | ${pct(base.present)} | ${pct(base.removed)} |`);
console.log(`| cosine threshold re-tuned | ${pct(rate(cv.cosine.present))} | ${pct(rate(cv.cosine.removed))} |`);
console.log(`| answerability head | ${pct(rate(cv.head.present))} | ${pct(rate(cv.head.removed))} |`);

const aucHead = auc(heldOut.map((r) => ({ y: r.y, s: r.head })));
const aucCos = auc(heldOut.map((r) => ({ y: r.y, s: r.cos })));
console.log(`\nheld-out ROC AUC (answerable vs not): head ${aucHead.toFixed(3)}, best-passage cosine ${aucCos.toFixed(3)}`);

const fitted = fitAnswerability(rows.map((r) => r.x), rows.map((r) => r.y), names);
const draft = { ...fitted, format: "answerability/v1" as const, threshold: 0.5, embedder: embedder.id, trained: {} };
const cut = chooseCut(rows, (r) => answerabilityScore(draft, Object.fromEntries(names.map((n, i) => [n, r.x[i]!])) as never));
const figures = {
  queries: queries.length,
  folds,
  max_present_abstain: maxPresent,
  cv_abstain_present: Number(rate(cv.head.present).toFixed(4)),
  cv_abstain_removed: Number(rate(cv.head.removed).toFixed(4)),
  cv_cosine_abstain_present: Number(rate(cv.cosine.present).toFixed(4)),
  cv_cosine_abstain_removed: Number(rate(cv.cosine.removed).toFixed(4)),
  cv_auc_head: Number(aucHead.toFixed(4)),
  cv_auc_cosine: Number(aucCos.toFixed(4)),
  baseline_abstain_present: Number(base.present.toFixed(4)),
  baseline_abstain_removed: Number(base.removed.toFixed(4)),
};
const head: AnswerabilityHead = {
  ...draft,
  threshold: Number(Math.min(0.99, Math.max(0.01, cut)).toFixed(4)),
  trained: { kb: kbPath.replace(dirname(ROOT), ".."), query_file: resolve(a.queries!).replace(dirname(ROOT), ".."), at: new Date().toISOString().slice(0, 10), cosine_threshold: threshold, ...figures },
};
console.log(`\nfitted on all ${rows.length} rows: weights ${names.map((n, i) => `${n} ${head.weights[i]!.toFixed(2)}`).join(", ")}; cut-off P(answerable) < ${head.threshold}`);
if (!a["dry-run"]) {
  mkdirSync(dirname(a.out!), { recursive: true });
  writeFileSync(a.out!, JSON.stringify(head, null, 2) + "\n");
  console.log(`wrote ${a.out}`);
}
console.log(JSON.stringify(figures));
