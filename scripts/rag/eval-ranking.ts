/**
 * eval:ranking — rank-1 accuracy of the knowledge search on the labelled KBs other than StackFAQ, the figure the
 * extractive composer's "gold cited" is capped by (it quotes only the best passage). Retrieval parameters are chosen
 * on these; StackFAQ dev is only the final, out-of-domain check (`--stackfaq`, reported apart).
 *
 *   bun run eval:ranking [--stackfaq] [--failures N] [--kb northwind,abcd,banking77-faq] [--gaps 0,0.005,0.01,0.015,0.02,0.03] [--encoder-max-batch N]
 *
 * KBs and queries: scripts/rag/kb-query-sets.ts (kb/northwind with Banking77 utterances and its headings as questions,
 * examples/kb/abcd with its headings and sample chats, a Banking77 FAQ). Each query runs through `knowledge.search`
 * (the product's fusion, one passage per document, `all: true` so the threshold does not hide the ranking); a query
 * counts at rank r when its gold document is the r-th document. Prints a table per KB, up to N failures per KB (gold
 * in the top 5 but not first: what ranked above it), and ends with one JSON line.
 * "cited" is what the extractive draft cites: the first passage, plus the second when it is another document within the
 * see-also gap (seeAlsoIndex, RESPONSE_DEFAULTS.seeAlsoGap). For each of --gaps it also prints how often the second
 * would be named and how often the first and the second are then the gold document: the gap is chosen as the largest
 * at which, pooled over the three KBs, the second is the gold at least half as often as the first.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { RESPONSE_DEFAULTS } from "../../src/agents/response/agent.ts";
import { loadConfig } from "../../src/config.ts";
import { seeAlsoIndex } from "../../src/llm/extractive.ts";
import { loadEmbedder } from "../../src/ml/index.ts";
import { openKnowledge } from "../../src/rag/index.ts";
import { kbQuerySets, type KbQuery } from "./kb-query-sets.ts";
import { tempDir } from "./util.ts";

const ROOT = resolve(import.meta.dir, "../..");
const DATA = resolve(ROOT, "../shared/data");
const { values: a } = parseArgs({
  options: {
    stackfaq: { type: "boolean", default: false },
    failures: { type: "string", default: "0" },
    kb: { type: "string" },
    gaps: { type: "string", default: "0,0.005,0.01,0.015,0.02,0.03" },
    // 1 embeds every text alone: the int8 encoder's vectors depend slightly on their batch mates.
    "encoder-max-batch": { type: "string" },
  },
});
process.chdir(ROOT);
const config = loadConfig(process.env);
const load0 = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
const maxBatch = a["encoder-max-batch"] ? Number(a["encoder-max-batch"]) : undefined;
const embedder = await loadEmbedder({ modelsDir: config.models.dir, ...(maxBatch ? { embedder: { maxBatch } } : {}) });
const tmp = tempDir("eval-ranking-");
const sets = kbQuerySets(DATA, tmp.dir);
const kbs: Record<string, string> = { ...sets.kbs };
const queries: KbQuery[] = sets.queries.filter((q) => q.gold !== null);
if (a.stackfaq) {
  kbs.stackfaq = join(DATA, "stackfaq/kb_threads.jsonl");
  for (const l of readFileSync(join(DATA, "stackfaq/dev_queries.jsonl"), "utf8").split("\n")) {
    if (!l.trim()) continue;
    const r = JSON.parse(l);
    queries.push({ kb: "stackfaq", text: r.query, gold: r.thread_id, kind: "dev" });
  }
}
const only = a.kb ? new Set(a.kb.split(",")) : null;
const nFail = Number(a.failures);
const t0 = performance.now();
const gap = RESPONSE_DEFAULTS.seeAlsoGap;
const gaps = a.gaps!.split(",").map(Number);
const figures: Record<string, { n: number; hit1: number; cited: number; see_also: number; hit5: number; mrr10: number }> = {};
/** Per KB and candidate gap: queries where the second passage would be named, and how often the first / second is the gold. */
const sweep: Record<string, { gap: number; added: number; first: number; second: number; cited: number }[]> = {};
for (const [name, path] of Object.entries(kbs)) {
  if (only && !only.has(name) && !(name === "stackfaq" && a.stackfaq)) continue;
  const k = await openKnowledge({ embedder, dataDir: join(tmp.dir, `index-${name}`), kbDir: null, answerability: null, params: { threshold: config.rag.threshold } });
  await k.ingest(path);
  const qs = queries.filter((q) => q.kb === name);
  let hit1 = 0;
  let hit5 = 0;
  let mrr = 0;
  let cited = 0;
  let seeAlso = 0;
  const sw = gaps.map((g) => ({ gap: g, added: 0, first: 0, second: 0, cited: 0 }));
  const fails: string[] = [];
  for (const q of qs) {
    const r = await k.search(q.text, { all: true, k: 10 });
    const isGold = (docId: string) => docId === q.gold || docId.endsWith(`/${q.gold}`);
    const rank = r.passages.findIndex((p) => isGold(p.doc_id)) + 1;
    if (rank === 1) hit1++;
    if (rank >= 1 && rank <= 5) hit5++;
    if (rank >= 1) mrr += 1 / rank;
    const also = seeAlsoIndex(r.passages, gap);
    if (also !== null) seeAlso++;
    if (rank === 1 || (also !== null && rank === 2)) cited++;
    for (const s of sw) {
      const add = seeAlsoIndex(r.passages, s.gap) !== null;
      if (add) {
        s.added++;
        if (rank === 1) s.first++;
        if (rank === 2) s.second++;
      }
      if (rank === 1 || (add && rank === 2)) s.cited++;
    }
    if (rank > 1 && rank <= 5 && fails.length < nFail) {
      const row = (p: (typeof r.passages)[number], i: number) => `    ${i + 1}. ${isGold(p.doc_id) ? "GOLD " : ""}cos ${p.score.toFixed(3)} ranks ${JSON.stringify(p.ranks)} ${p.title}${p.section ? ` › ${p.section}` : ""}`;
      fails.push([`  "${q.text}" (${q.kind}): gold at ${rank}`, ...r.passages.slice(0, rank).map(row)].join("\n"));
    }
  }
  await k.close();
  const n = qs.length;
  figures[name] = { n, hit1: round(hit1 / n), cited: round(cited / n), see_also: round(seeAlso / n), hit5: round(hit5 / n), mrr10: round(mrr / n) };
  sweep[name] = sw;
  if (fails.length) console.log(`${name}: gold in the top 5 but not first\n${fails.join("\n")}`);
}
tmp.cleanup();
const train = Object.entries(figures).filter(([n]) => n !== "stackfaq");
const macro = (k: "hit1" | "cited") => round(train.reduce((s, [, f]) => s + f[k], 0) / Math.max(1, train.length));
console.log(`\n| KB | queries | hit@1 | cited (see-also gap ${gap}) | second named | hit@5 | MRR@10 |\n|---|---|---|---|---|---|---|`);
for (const [n, f] of Object.entries(figures)) console.log(`| ${n}${n === "stackfaq" ? " (final check only)" : ""} | ${f.n} | ${f.hit1} | ${f.cited} | ${f.see_also} | ${f.hit5} | ${f.mrr10} |`);
console.log("\nSee-also gap sweep (queries where the second passage would be named; how often the first / second is then the gold):\n");
console.log(`| gap | ${Object.keys(sweep).map((n) => `${n}: named, first gold, second gold, cited`).join(" | ")} | pooled over the training KBs: second / first |`);
console.log(`|---|${Object.keys(sweep).map(() => "---").join("|")}|---|`);
let chosen = Number.NaN;
for (const [i, g] of gaps.entries()) {
  const cells = Object.entries(sweep).map(([n, sw]) => {
    const s = sw[i]!;
    const q = figures[n]!.n;
    return `${(s.added / q).toFixed(3)}, ${s.added ? (s.first / s.added).toFixed(2) : "-"}, ${s.added ? (s.second / s.added).toFixed(2) : "-"}, ${(s.cited / q).toFixed(3)}`;
  });
  const pooled = Object.entries(sweep).filter(([n]) => n !== "stackfaq").map(([, sw]) => sw[i]!);
  const first = pooled.reduce((x, s) => x + s.first, 0);
  const second = pooled.reduce((x, s) => x + s.second, 0);
  const ratio = first ? second / first : 0;
  if (ratio >= 0.5 && (Number.isNaN(chosen) || g > chosen)) chosen = g;
  console.log(`| ${g} | ${cells.join(" | ")} | ${ratio.toFixed(2)} |`);
}
console.log(`\nlargest gap at which the second is the gold at least half as often as the first (training KBs pooled): ${chosen}; shipped: ${gap}`);
console.log(`macro over the KBs parameters are chosen on: hit@1 ${macro("hit1")}, cited ${macro("cited")}; ${((performance.now() - t0) / 1000).toFixed(0)} s, load average ${load0}`);
console.log(JSON.stringify({ encoder_max_batch: maxBatch ?? null, macro_hit1: macro("hit1"), macro_cited: macro("cited"), see_also_gap: gap, chosen_gap: Number.isNaN(chosen) ? null : chosen, ...figures, load_avg_1m: load0 }));
process.exit(0);

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
