/**
 * train:answerability — fits the DEFAULT answerability head (models/answerability/default.json), the one the product
 * loads when nothing is configured, on several knowledge bases so that it transfers to a KB it has never seen.
 *
 *   bun run train:answerability [--max-present-abstain 0.04] [--out models/answerability/default.json] [--dry-run] [--rows FILE] [--features a,b | --select]
 *
 * Training KBs (StackFAQ is deliberately NOT used: it stays the out-of-domain check of eval:grounding):
 *  - northwind: kb/northwind (the bank's help). Queries: Banking77 training utterances of the intents the KB covers
 *    (a hand-made intent → page map below), and each section heading asked as a question.
 *  - abcd: examples/kb/abcd (ABCD agent guidelines, a clothing retailer), read as if customer-facing. Queries: the
 *    subflow headings asked as questions, and the first customer turns of the ABCD sample chats.
 *  - banking77-faq: an FAQ built from Banking77 (one page per intent: its title is one utterance, its text ten
 *    others), queried with other utterances of the intent (the FAQ-style KB closest to a help centre's Q&A).
 * Rows: each query with its gold page present (answerable) and with it removed from the ranked list (not
 * answerable); every KB's queries asked of the other KBs (not answerable); Banking77 utterances of intents the bank
 * KB does not cover asked of the bank and ABCD KBs (not answerable).
 * Features are those of src/rag/answerability.ts; the head is a logistic regression. Leave-one-KB-out: the head and
 * its cut-off are fitted on the other KBs and applied to the held-out one; the shipped head is fitted on all three,
 * with the cut-off chosen on the training rows (the highest whose abstention on answerable queries, averaged over the
 * training KBs, is at most --max-present-abstain). --rows FILE caches the feature rows (re-fitting skips the
 * encoder); --select chooses the features by greedy forward selection on leave-one-KB-out AUC. The last line is JSON.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/config.ts";
import { stableHash } from "../../src/ml/data.ts";
import { loadEmbedder } from "../../src/ml/index.ts";
import { ANSWERABILITY_FEATURES, DEEP_K, answerabilityScore, featureVector, fitAnswerability, type AnswerabilityHead } from "../../src/rag/answerability.ts";
import { openKnowledge, type Knowledge } from "../../src/rag/index.ts";
import { kbQuerySets } from "./kb-query-sets.ts";
import { tempDir } from "./util.ts";
import { auc } from "../lib/metrics.ts";

const ROOT = resolve(import.meta.dir, "../..");
const DATA = resolve(ROOT, "../shared/data");
const { values: a } = parseArgs({
  options: {
    "max-present-abstain": { type: "string", default: "0.04" },
    out: { type: "string", default: join(ROOT, "models/answerability/default.json") },
    "dry-run": { type: "boolean", default: false },
    rows: { type: "string" },
    features: { type: "string" },
    select: { type: "boolean", default: false },
  },
});
const maxPresent = Number(a["max-present-abstain"]);
process.chdir(ROOT);
const config = loadConfig(process.env);
const threshold = config.rag.threshold;
const load0 = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

// --- features -----------------------------------------------------------------------------------------------------
const embedder = await loadEmbedder({ modelsDir: config.models.dir });
const tmp = tempDir("answerability-default-");
const { kbs, queries, outside } = kbQuerySets(DATA, tmp.dir);

interface Row {
  x: number[];
  y: 0 | 1;
  kb: string;
  /** The KB the query was written for (cross-KB rows differ from `kb`). */
  origin: string;
  topCos: number;
  kind: string;
}
const names = [...ANSWERABILITY_FEATURES];
const cached = a.rows && existsSync(a.rows) ? (JSON.parse(readFileSync(a.rows, "utf8")) as { names: string[]; rows: Row[] }) : null;
const rows: Row[] = cached && cached.names.join() === names.join() ? cached.rows : [];
const t0 = performance.now();
for (const [name, path] of rows.length ? [] : Object.entries(kbs)) {
  const k: Knowledge = await openKnowledge({ embedder, dataDir: join(tmp.dir, `index-${name}`), kbDir: null, answerability: null, params: { threshold } });
  await k.ingest(path);
  const add = async (q: string, gold: string | null, origin: string, kind: string) => {
    const r = await k.search(q, { all: true, k: DEEP_K + 1 });
    const isGold = (docId: string) => gold !== null && (docId === gold || docId.endsWith(`/${gold}`));
    const lists: [typeof r.passages, 0 | 1][] = gold !== null ? [[r.passages.slice(0, DEEP_K), 1], [r.passages.filter((p) => !isGold(p.doc_id)).slice(0, DEEP_K), 0]] : [[r.passages.slice(0, DEEP_K), 0]];
    if (gold !== null && !r.passages.some((p) => isGold(p.doc_id))) lists.splice(0, 1); // gold not retrieved: no "answerable" row
    for (const [list, y] of lists) {
      const f = await k.answerabilityFeatures(r.query, list);
      rows.push({ x: featureVector(f, names), y, kb: name, origin, topCos: f.top_cos, kind });
    }
  };
  for (const q of queries) {
    if (q.kb === name) await add(q.text, q.gold, name, q.kind);
    else if (stableHash(`${name}/${q.text}`) % 4 === 0) await add(q.text, null, q.kb, "cross-kb"); // a quarter of the other KBs' queries
  }
  // Uncovered Banking77 intents are answered by the Banking77 FAQ, so they are off-topic only for the other KBs.
  if (name !== "banking77-faq") for (const q of outside) await add(q, null, "outside", "outside");
  await k.close();
}
tmp.cleanup();
if (a.rows && !cached) writeFileSync(a.rows, JSON.stringify({ names, rows }));
const secs = (performance.now() - t0) / 1000;
console.log(`${rows.length} rows from ${queries.length} queries on ${Object.keys(kbs).length} KBs in ${secs.toFixed(0)} s (encoder ${embedder.id}; cosine threshold ${threshold}; load average ${load0})`);
for (const kb of Object.keys(kbs)) {
  const r = rows.filter((x) => x.kb === kb);
  console.log(`  ${kb}: ${r.filter((x) => x.y === 1).length} answerable, ${r.filter((x) => x.y === 0 && x.origin === kb && x.kind !== "outside").length} gold removed, ${r.filter((x) => x.kind === "cross-kb").length} other KBs' questions, ${r.filter((x) => x.kind === "outside").length} off-topic`);
}

// --- fitting and leave-one-KB-out ---------------------------------------------------------------------------------
// --features a,b,c: fit on a subset; --select: the subset chosen on leave-one-KB-out AUC (the rows keep every feature; the head stores the names it uses).
/**
 * Mean held-out ROC AUC of a logistic head on `feats` over the leave-one-KB-out folds: the criterion --select uses,
 * so the features are chosen for how they transfer to a KB left out, not for how they fit the KBs seen.
 */
function lokoAuc(feats: string[]): number {
  const ix = feats.map((f) => names.indexOf(f as never));
  const proj = (r: Row) => ix.map((i) => r.x[i]!);
  let sum = 0;
  for (const kb of Object.keys(kbs)) {
    const train = rows.filter((r) => r.kb !== kb && r.origin !== kb);
    const h: AnswerabilityHead = { ...fitAnswerability(train.map(proj), train.map((r) => r.y), feats, { l2: 1e-2 }), format: "answerability/v1", threshold: 0.5, embedder: embedder.id, trained: {} };
    sum += auc(rows.filter((r) => r.kb === kb).map((r) => ({ y: r.y, s: answerabilityScore(h, Object.fromEntries(feats.map((n, i) => [n, proj(r)[i]!])) as never) })));
  }
  return sum / Object.keys(kbs).length;
}
/** Greedy forward selection on leave-one-KB-out AUC; stops when the next feature adds less than 0.002. */
function selectFeatures(): string[] {
  const chosen: string[] = [];
  let best = 0;
  for (;;) {
    const scored = names.filter((f) => !chosen.includes(f)).map((f) => ({ f, auc: lokoAuc([...chosen, f]) }));
    const top = scored.sort((x, y) => y.auc - x.auc)[0];
    if (!top || top.auc < best + 0.002) break;
    chosen.push(top.f);
    best = top.auc;
    console.log(`  select +${top.f}: leave-one-KB-out AUC ${top.auc.toFixed(4)}`);
  }
  return chosen;
}
if (a.select) console.log("\nFeature selection (greedy, leave-one-KB-out ROC AUC):");
const use = a.select ? selectFeatures() : a.features ? a.features.split(",") : names;
for (const f of use) if (!names.includes(f as never)) throw new Error(`unknown feature ${f}`);
const idx = use.map((f) => names.indexOf(f as never));
for (const r of rows) r.x = idx.map((i) => r.x[i]!);
const rate = (xs: boolean[]) => (xs.length ? xs.filter(Boolean).length / xs.length : 0);
const headOf = (train: Row[]): AnswerabilityHead => ({ ...fitAnswerability(train.map((r) => r.x), train.map((r) => r.y), use, { l2: 1e-2 }), format: "answerability/v1", threshold: 0.5, embedder: embedder.id, trained: {} });
const score = (h: AnswerabilityHead, r: Row) => answerabilityScore(h, Object.fromEntries(use.map((n, i) => [n, r.x[i]!])) as never);
const abstains = (r: Row, s: number, cut: number) => r.topCos < threshold || s < cut;
/**
 * The highest cut-off whose abstention on answerable rows, averaged over the training KBs (each KB weighs the same,
 * whatever its number of queries), stays within the budget; the cosine rule's own abstentions count.
 */
function chooseCut(train: Row[], sc: (r: Row) => number): number {
  const kbNames = [...new Set(train.map((r) => r.kb))];
  const pos = kbNames.map((kb) => train.filter((r) => r.kb === kb && r.y === 1).map((r) => ({ s: sc(r), cos: r.topCos })));
  const macro = (cut: number) => pos.reduce((a, p) => a + p.filter((r) => r.cos < threshold || r.s < cut).length / Math.max(1, p.length), 0) / pos.length;
  const candidates = [...new Set(pos.flat().map((r) => r.s))].sort((x, y) => x - y);
  let best = 0;
  for (let i = 0; i < candidates.length; i++) {
    // Abstain when score < cut: a cut just above candidate i abstains on every score up to it.
    const cut = i + 1 < candidates.length ? (candidates[i]! + candidates[i + 1]!) / 2 : candidates[i]! + 1e-6;
    if (macro(cut) <= maxPresent) best = cut;
    else break;
  }
  return best;
}
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const loko: Record<string, Record<string, number>> = {};
console.log("\nLeave-one-KB-out (head and cut-off fitted on the other KBs, applied to the held-out one):\n");
console.log("| held-out KB | answerable rows | abstain, gold present | abstain, gold removed | abstain, other KBs' / off-topic questions | ROC AUC | cosine-only AUC |");
console.log("|---|---|---|---|---|---|---|");
for (const kb of Object.keys(kbs)) {
  const train = rows.filter((r) => r.kb !== kb && r.origin !== kb);
  const test = rows.filter((r) => r.kb === kb);
  const h = headOf(train);
  const cut = chooseCut(train, (r) => score(h, r));
  const present = test.filter((r) => r.y === 1);
  const removed = test.filter((r) => r.y === 0 && r.origin === kb && r.kind !== "outside");
  const foreign = test.filter((r) => r.kind === "cross-kb" || r.kind === "outside");
  const f = {
    present: rate(present.map((r) => abstains(r, score(h, r), cut))),
    removed: rate(removed.map((r) => abstains(r, score(h, r), cut))),
    foreign: rate(foreign.map((r) => abstains(r, score(h, r), cut))),
    auc: auc(test.map((r) => ({ y: r.y, s: score(h, r) }))),
    auc_cos: auc(test.map((r) => ({ y: r.y, s: r.topCos }))),
  };
  loko[kb] = Object.fromEntries(Object.entries(f).map(([k2, v]) => [k2, Number(v.toFixed(4))]));
  console.log(`| ${kb} | ${present.length} | ${pct(f.present)} | ${pct(f.removed)} | ${pct(f.foreign)} | ${f.auc.toFixed(3)} | ${f.auc_cos.toFixed(3)} |`);
}

const h = headOf(rows);
const cut = chooseCut(rows, (r) => score(h, r));
const figures = { features: use, rows: rows.length, queries: queries.length, kbs: Object.keys(kbs), max_present_abstain: maxPresent, cut: Number(cut.toFixed(4)), loko, seconds: Math.round(secs), load_avg_1m: load0 };
const head: AnswerabilityHead = {
  ...h,
  threshold: Number(Math.min(0.99, Math.max(0.01, cut)).toFixed(4)),
  trained: { script: "scripts/rag/train-answerability-default.ts", at: new Date().toISOString().slice(0, 10), kbs: Object.keys(kbs), not_trained_on: "StackFAQ", cosine_threshold: threshold, rows: rows.length, max_present_abstain: maxPresent, loko },
};
console.log(`\nfitted on all ${rows.length} rows: ${use.map((n, i) => `${n} ${head.weights[i]!.toFixed(2)}`).join(", ")}; abstain when P(answerable) < ${head.threshold}`);
if (!a["dry-run"]) {
  mkdirSync(dirname(a.out!), { recursive: true });
  writeFileSync(a.out!, JSON.stringify(head, null, 2) + "\n");
  console.log(`wrote ${a.out!.replace(ROOT + "/", "")}`);
}
console.log(JSON.stringify(figures));
process.exit(0);
