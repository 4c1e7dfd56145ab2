/**
 * compare:drafts — answer overlap of the drafts that `eval:grounding --rows FILE` recorded, one column per rows file
 * (e.g. the extractive composer, the 0.5B and the 1.5B model on the same queries).
 *
 *   bun run compare:drafts [--kb FILE] LABEL=rows.jsonl [LABEL=rows.jsonl ...]
 *
 * For each file, over its gold-present drafts: mode counts, gold-cited rate, and draftAnswerF1 (token-F1 of the draft
 * against the gold StackFAQ thread's best-matching answer), on the whole draft and on its answer part (fixed
 * greeting / follow-up / sign-off removed). Only the query ids present in EVERY file are compared. Ends with one JSON line.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { answerPart, draftAnswerF1 } from "./draft-overlap.ts";

const ROOT = resolve(import.meta.dir, "../..");
const { values: a, positionals } = parseArgs({ allowPositionals: true, options: { kb: { type: "string", default: join(ROOT, "../shared/data/stackfaq/kb_threads.jsonl") } } });
if (positionals.length === 0) {
  console.error("usage: compare:drafts [--kb FILE] LABEL=rows.jsonl ...");
  process.exit(2);
}
const answers = new Map<string, string[]>();
for (const l of readFileSync(resolve(a.kb!), "utf8").split("\n")) {
  if (!l.trim()) continue;
  const t = JSON.parse(l) as { thread_id: string; answers?: string[] };
  answers.set(String(t.thread_id), t.answers ?? []);
}
interface Row {
  query_id: string;
  gold: string;
  present: { mode: string; citedThreads: string[]; text?: string };
}
const runs = positionals.map((p) => {
  const [label, file] = p.includes("=") ? [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)] : [p, p];
  const rows = readFileSync(resolve(file!), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Row);
  return { label: label!, rows: new Map(rows.map((r) => [r.query_id, r])) };
});
const common = [...runs[0]!.rows.keys()].filter((id) => runs.every((r) => r.rows.has(id)));
const mean = (xs: number[]) => (xs.length ? Math.round((xs.reduce((s, x) => s + x, 0) / xs.length) * 1000) / 1000 : 0);
const figures = runs.map(({ label, rows }) => {
  const rs = common.map((id) => rows.get(id)!);
  const modes: Record<string, number> = {};
  for (const r of rs) modes[r.present.mode] = (modes[r.present.mode] ?? 0) + 1;
  const gold = (r: Row) => answers.get(r.gold) ?? [];
  return {
    label,
    n: rs.length,
    modes,
    gold_cited_rate: mean(rs.map((r) => (r.present.citedThreads.includes(r.gold) ? 1 : 0))),
    answer_f1: mean(rs.map((r) => draftAnswerF1(r.present.text ?? "", gold(r)))),
    answer_f1_answer_part: mean(rs.map((r) => draftAnswerF1(answerPart(r.present.text ?? ""), gold(r)))),
  };
});
console.log(`${common.length} queries common to all ${runs.length} files (gold thread present)\n`);
console.log("| drafts | n | modes | gold cited | answer F1 (whole draft) | answer F1 (answer part) |");
console.log("|---|---|---|---|---|---|");
for (const f of figures) console.log(`| ${f.label} | ${f.n} | ${Object.entries(f.modes).map(([k, v]) => `${k} ${v}`).join(", ")} | ${f.gold_cited_rate} | ${f.answer_f1} | ${f.answer_f1_answer_part} |`);
console.log(JSON.stringify({ n: common.length, runs: figures }));
