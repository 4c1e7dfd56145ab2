/**
 * eval:ranking — rank-1 accuracy of the knowledge search on the labelled KBs other than StackFAQ, the figure the
 * extractive composer's "gold cited" is capped by (it quotes only the best passage). Retrieval parameters are chosen
 * on these; StackFAQ dev is only the final, out-of-domain check (`--stackfaq`, reported apart).
 *
 *   bun run eval:ranking [--stackfaq] [--failures N] [--kb northwind,abcd,banking77-faq]
 *
 * KBs and queries: scripts/rag/kb-query-sets.ts (kb/northwind with Banking77 utterances and its headings as questions,
 * examples/kb/abcd with its headings and sample chats, a Banking77 FAQ). Each query runs through `knowledge.search`
 * (the product's fusion, one passage per document, `all: true` so the threshold does not hide the ranking); a query
 * counts at rank r when its gold document is the r-th document. Prints a table per KB, up to N failures per KB (gold
 * in the top 5 but not first: what ranked above it), and ends with one JSON line.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/config.ts";
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
  },
});
process.chdir(ROOT);
const config = loadConfig(process.env);
const load0 = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
const embedder = await loadEmbedder({ modelsDir: config.models.dir });
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
const figures: Record<string, { n: number; hit1: number; hit5: number; mrr10: number }> = {};
for (const [name, path] of Object.entries(kbs)) {
  if (only && !only.has(name) && !(name === "stackfaq" && a.stackfaq)) continue;
  const k = await openKnowledge({ embedder, dataDir: join(tmp.dir, `index-${name}`), kbDir: null, answerability: null, params: { threshold: config.rag.threshold } });
  await k.ingest(path);
  const qs = queries.filter((q) => q.kb === name);
  let hit1 = 0;
  let hit5 = 0;
  let mrr = 0;
  const fails: string[] = [];
  for (const q of qs) {
    const r = await k.search(q.text, { all: true, k: 10 });
    const isGold = (docId: string) => docId === q.gold || docId.endsWith(`/${q.gold}`);
    const rank = r.passages.findIndex((p) => isGold(p.doc_id)) + 1;
    if (rank === 1) hit1++;
    if (rank >= 1 && rank <= 5) hit5++;
    if (rank >= 1) mrr += 1 / rank;
    if (rank > 1 && rank <= 5 && fails.length < nFail) {
      const row = (p: (typeof r.passages)[number], i: number) => `    ${i + 1}. ${isGold(p.doc_id) ? "GOLD " : ""}cos ${p.score.toFixed(3)} ranks ${JSON.stringify(p.ranks)} ${p.title}${p.section ? ` › ${p.section}` : ""}`;
      fails.push([`  "${q.text}" (${q.kind}): gold at ${rank}`, ...r.passages.slice(0, rank).map(row)].join("\n"));
    }
  }
  await k.close();
  const n = qs.length;
  figures[name] = { n, hit1: round(hit1 / n), hit5: round(hit5 / n), mrr10: round(mrr / n) };
  if (fails.length) console.log(`${name}: gold in the top 5 but not first\n${fails.join("\n")}`);
}
tmp.cleanup();
const train = Object.entries(figures).filter(([n]) => n !== "stackfaq");
const macro = round(train.reduce((s, [, f]) => s + f.hit1, 0) / Math.max(1, train.length));
console.log("\n| KB | queries | hit@1 | hit@5 | MRR@10 |\n|---|---|---|---|---|");
for (const [n, f] of Object.entries(figures)) console.log(`| ${n}${n === "stackfaq" ? " (final check only)" : ""} | ${f.n} | ${f.hit1} | ${f.hit5} | ${f.mrr10} |`);
console.log(`\nmacro hit@1 over the KBs parameters are chosen on: ${macro}; ${((performance.now() - t0) / 1000).toFixed(0)} s, load average ${load0}`);
console.log(JSON.stringify({ macro_hit1: macro, ...figures, load_avg_1m: load0 }));
process.exit(0);

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
