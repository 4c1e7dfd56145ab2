/**
 * eval:grounding — are drafts grounded in the right thread, and do they abstain when the KB lacks the answer?
 *
 *   bun run eval:grounding [--generator none|auto|embedded] [--answerability auto|none|FILE] [--limit N] [--seed S]
 *                          [--kb FILE] [--queries FILE] [--rows FILE.jsonl] [--examples N] [--encoder-max-batch N]
 *
 * For each sampled StackFAQ dev query the product path runs as the master would run it (runWorker with each agent's
 * timeout and the configured retries): stage 0 = triage (intent, sentiment, entities; loadTriage, the shared encoder)
 * and the knowledge agent of openKnowledge (the product's threshold, top-k and per-document limit), stage 1 = the
 * response agent from responseAgentFromConfig with the generator from createGenerator.
 *  (a) full KB: does the draft's verified citation list include a passage of the gold thread?
 *  (b) gold thread removed: the gold thread's documents are really deleted from the KB collection (re-ingesting a
 *      temporary copy of the KB file without them, so BM25 statistics, fusion and the abstain threshold all see a KB
 *      without the thread), the same query runs again, then the thread is restored. Does the draft abstain (follow-up
 *      promise + clarifying question) or cite some other thread?
 *  (c) answer overlap: token-F1 of each gold-present draft against the gold thread's answers (best over the answers;
 *      from the query line's `answer`/`answers` when given, else the KB's thread answers), mean reported as answer_f1.
 * Defaults: the KB and dev queries in ../shared/data/stackfaq (read in place; the temporary copy lives in the OS temp
 * folder and is deleted), --generator none (the extractive composer: no fast generator is assumed; `auto` = Ollama if
 * OLLAMA_HOST, else the embedded GGUF if present, else extractive), --answerability auto (the product's configured
 * head, by default models/answerability/default.json, which is not trained on StackFAQ),
 * --limit 375 with --generator none, else 16 (measured 7 min 49 s with the embedded 0.5B GGUF on 2 loaded cores; budget ≤ 10 min), --seed 1.
 * --encoder-max-batch N caps the encoder's ONNX batch (default: the encoder's own, 16); 1 embeds every text alone, so
 * no vector depends on its batch mates (the int8 encoder's dynamic quantisation makes them differ slightly).
 * The last line is one JSON object of the figures.
 */
import { triageAgents } from "../../src/agents/triage/index.ts";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { RESPONSE_DEFAULTS } from "../../src/agents/response/agent.ts";
import { responseAgentFromConfig, type ReplyDraft } from "../../src/agents/response/index.ts";
import { runWorker } from "../../src/agents/master.ts";
import { knowledgeAgent, type KnowledgeOutput } from "../../src/agents/knowledge/index.ts";
import type { Agent } from "../../src/agents/types.ts";
import { loadConfig } from "../../src/config.ts";
import { createGenerator } from "../../src/llm/index.ts";
import { loadTriage } from "../../src/ml/index.ts";
import { createLogger } from "../../src/obs/log.ts";
import { loadAnswerabilityHead, openKnowledge } from "../../src/rag/index.ts";
import { readJsonl } from "../../src/rag/sources.ts";
import type { CustomerMessage } from "../../src/schema/message.ts";
import { emptySession } from "../../src/session/interface.ts";
import { bestCutoff, bestTokenF1, cutoffWhatIf, groundingFigures, percentile, sample, thresholdWhatIf, type DraftObservation, type QueryObservation } from "./grounding-metrics.ts";
import { tempDir } from "../rag/util.ts";

const ROOT = resolve(import.meta.dir, "../..");
const DATA = resolve(ROOT, "../shared/data/stackfaq");
const { values: a } = parseArgs({
  options: {
    kb: { type: "string", default: join(DATA, "kb_threads.jsonl") },
    queries: { type: "string", default: join(DATA, "dev_queries.jsonl") },
    generator: { type: "string", default: "none" },
    limit: { type: "string" },
    seed: { type: "string", default: "1" },
    rows: { type: "string" },
    examples: { type: "string", default: "3" },
    answerability: { type: "string", default: "auto" },
    "encoder-max-batch": { type: "string" },
  },
});
if (!["auto", "embedded", "none"].includes(a.generator!)) {
  console.error("usage: eval:grounding [--generator none|auto|embedded] [--answerability auto|none|FILE] [--limit N] [--seed S] [--kb FILE] [--queries FILE]");
  process.exit(2);
}
process.chdir(ROOT); // models/ and the prompt templates are resolved from the repo root

const config = loadConfig({ ...process.env, LLM_GENERATOR: a.generator });
const log = createLogger("silent");
const loadAvg = async () => Number((await Bun.file("/proc/loadavg").text().catch(() => "0")).split(" ")[0]);
const load0 = await loadAvg();

// --- data ---------------------------------------------------------------------------------------------------
const kbPath = resolve(a.kb!);
const kbLines = readFileSync(kbPath, "utf8").split("\n").filter((l) => l.trim());
const threadOfDoc = new Map(readJsonl(kbPath).map((d) => [d.id, d.meta?.thread_id ?? d.id]));
const threadOfLine = (l: string) => {
  const r = JSON.parse(l);
  return String(r.thread_id ?? r.id);
};
interface Query {
  query_id: string;
  query: string;
  gold: string;
  /** Reference answers given on the query line, if any. */
  answers?: string[];
}
const all: Query[] = readFileSync(resolve(a.queries!), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => {
    const r = JSON.parse(l);
    const answers = Array.isArray(r.answers) ? r.answers.filter((x: unknown) => typeof x === "string") : typeof r.answer === "string" ? [r.answer] : undefined;
    return { query_id: String(r.query_id ?? r.id), query: r.query, gold: String(r.thread_id ?? r.doc_id), ...(answers?.length ? { answers } : {}) };
  });
// Reference answers of each thread from the KB file: StackFAQ threads carry `answers`, pairs one `answer`, documents `text`.
const answersOf = new Map<string, string[]>();
for (const l of kbLines) {
  const r = JSON.parse(l);
  const t = String(r.thread_id ?? r.id);
  const own = Array.isArray(r.answers) ? r.answers.filter((x: unknown) => typeof x === "string") : typeof r.answer === "string" ? [r.answer] : typeof r.text === "string" ? [r.text] : [];
  answersOf.set(t, [...(answersOf.get(t) ?? []), ...own]);
}
const threads = new Set(threadOfDoc.values());
const missingGold = all.filter((q) => !threads.has(q.gold)).length;
if (missingGold) console.warn(`${missingGold} queries have a gold thread that is not in the KB`);

// --- the product's parts ----------------------------------------------------------------------------------------
const maxBatch = a["encoder-max-batch"] ? Number(a["encoder-max-batch"]) : undefined;
const triage = await loadTriage({ modelsDir: config.models.dir, ...(maxBatch ? { embedder: { maxBatch } } : {}) });
const tmp = tempDir("grounding-");
// The KB is ingested from a temporary copy so a copy without the gold thread can replace it (same origin).
const kbCopy = join(tmp.dir, "kb.jsonl");
copyFileSync(kbPath, kbCopy);
// `auto` is the product's head (RAG_ANSWERABILITY_HEAD, by default the multi-KB head, never trained on StackFAQ, so
// StackFAQ is an out-of-domain check); `none` evaluates the similarity threshold alone; a path picks another head.
const headPath = a.answerability === "none" ? null : a.answerability !== "auto" ? resolve(a.answerability!) : config.rag.answerabilityHead ? resolve(config.rag.answerabilityHead) : null;
const head = headPath ? loadAnswerabilityHead(headPath) : null;
if (headPath && !head) throw new Error(`no answerability head at ${headPath}`);
const knowledge = await openKnowledge({
  embedder: triage.embedder,
  dataDir: join(tmp.dir, "index"),
  kbDir: null,
  params: { M: config.rag.M, efConstruction: config.rag.efConstruction, efSearch: config.rag.efSearch, threshold: config.rag.threshold },
    answerability: head,
});
const tIngest = performance.now();
const ingest = await knowledge.ingest(kbCopy);
console.log(`KB ${kbPath}: ${ingest.docs} docs, ${ingest.chunks} chunks, ${threads.size} threads, indexed in ${((performance.now() - tIngest) / 1000).toFixed(1)} s (${triage.embedder.id}); abstain threshold ${config.rag.threshold}; answerability head ${headPath ? `${headPath.replace(ROOT + "/", "")} (cut-off ${head!.threshold})` : "none"}`);

const generator = createGenerator(config, log);
const reply = responseAgentFromConfig(config, { generator });
const genLabel = generator ? `${generator.kind}:${generator.model}` : "none (extractive)";
const limit = Number(a.limit ?? (generator ? 16 : all.length));
const seed = Number(a.seed);
const picked = sample(all, limit, seed);
console.log(`generator ${genLabel}; ${picked.length} of ${all.length} dev queries (seed ${seed}); load average ${load0} on ${navigator.hardwareConcurrency} CPUs`);
if (generator && "load" in generator) {
  const t = performance.now();
  await (generator as unknown as { load(): Promise<unknown> }).load();
  console.log(`model loaded in ${Math.round(performance.now() - t)} ms`);
}

// --- one draft through the product path -------------------------------------------------------------------------
const stage0: Agent[] = [...triageAgents(triage.model), knowledgeAgent(knowledge)];
let seq = 0;
interface Run {
  obs: DraftObservation;
  draft: ReplyDraft | null;
}
function answerF1(q: Query, text: string): { answerF1?: number } {
  const refs = q.answers ?? answersOf.get(q.gold) ?? [];
  return refs.length ? { answerF1: bestTokenF1(text, refs) } : {};
}
async function draftFor(q: Query, pass: string): Promise<Run> {
  seq++;
  const conversationId = `eval:${pass}:${q.query_id}`;
  const msg: CustomerMessage = {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    source: "chat",
    user: { id: `eval-${q.query_id}` },
    message: { text: q.query, attachments: [] },
    metadata: { received_at: new Date().toISOString(), conversation_id: conversationId },
  };
  const session = emptySession(conversationId);
  const failures: string[] = [];
  const previous: Record<string, unknown> = {};
  let knowledgeMs = 0;
  await Promise.all(
    stage0.map(async (agent) => {
      const r = await runWorker(agent, msg, { conversationId, session, previous: {}, log }, agent.timeoutMs ?? config.master.workerTimeoutMs, config.master.workerRetries);
      if (agent.name === "knowledge") knowledgeMs = r.ms;
      if (r.ok) previous[agent.name] = r.value;
      else failures.push(`${agent.name}: ${r.failure.code}`);
    }),
  );
  const k = previous.knowledge as KnowledgeOutput | undefined;
  const candidates = await knowledge.search(q.query, { all: true, k: 1000 });
  const r = await runWorker(reply, msg, { conversationId, session, previous, log }, reply.timeoutMs ?? config.master.workerTimeoutMs, 0);
  const d = r.ok ? (r.value as ReplyDraft) : null;
  if (!r.ok) failures.push(`reply: ${r.failure.code}`);
  const thread = (docId: string) => threadOfDoc.get(docId) ?? docId;
  return {
    draft: d,
    obs: {
      mode: d?.mode ?? "failed",
      // A failed reply worker leaves no draft: counted as not abstaining and citing nothing.
      abstained: d?.abstained ?? false,
      citedThreads: [...new Set((d?.citations ?? []).map((c) => thread(c.doc_id)))],
      promptThreads: k && !k.abstain ? k.passages.slice(0, RESPONSE_DEFAULTS.maxPassages).map((p) => thread(p.doc_id)) : [],
      // The first chunk of each document in fused order (all: true) may score below a later chunk of the same document,
      // so the knowledge output's passages are folded in: the what-if matches the product exactly at its threshold.
      topScore: Math.max(-1, ...candidates.passages.map((p) => p.score), ...(k?.passages ?? []).map((p) => p.score)),
      draftMs: d?.timings.total_ms ?? r.ms,
      knowledgeMs,
      workerFailures: failures,
      ...(pass === "present" && d ? answerF1(q, d.text) : {}),
      ...(k?.answerability ? { answerabilityP: k.answerability.p } : {}),
    },
  };
}

const t0 = performance.now();
const present = new Map<string, Run>();
for (const [i, q] of picked.entries()) {
  present.set(q.query_id, await draftFor(q, "present"));
  process.stderr.write(`\rgold present ${i + 1}/${picked.length}`);
}
process.stderr.write("\n");
const tPresent = performance.now() - t0;

// (b) per gold thread: delete its documents, run its sampled queries, restore it.
const removed = new Map<string, Run>();
const byThread = new Map<string, Query[]>();
for (const q of picked) byThread.set(q.gold, [...(byThread.get(q.gold) ?? []), q]);
let done = 0;
const t1 = performance.now();
for (const [gold, qs] of byThread) {
  writeFileSync(kbCopy, kbLines.filter((l) => threadOfLine(l) !== gold).join("\n") + "\n");
  const s = await knowledge.ingest(kbCopy);
  if (s.deleted < 1) throw new Error(`removing thread ${gold} deleted nothing`);
  for (const q of qs) {
    removed.set(q.query_id, await draftFor(q, "removed"));
    process.stderr.write(`\rgold removed ${++done}/${picked.length}`);
  }
  writeFileSync(kbCopy, kbLines.join("\n") + "\n");
  await knowledge.ingest(kbCopy);
}
process.stderr.write("\n");
const tRemoved = performance.now() - t1;

const rows: QueryObservation[] = picked.map((q) => ({ query_id: q.query_id, gold: q.gold, present: present.get(q.query_id)!.obs, removed: removed.get(q.query_id)!.obs }));
if (a.rows) {
  writeFileSync(
    a.rows,
    picked
      .map((q) => {
        const p = present.get(q.query_id)!;
        const r = removed.get(q.query_id)!;
        return JSON.stringify({ query_id: q.query_id, query: q.query, gold: q.gold, present: { ...p.obs, text: p.draft?.text, fallback: p.draft?.fallback_reason }, removed: { ...r.obs, text: r.draft?.text, fallback: r.draft?.fallback_reason } });
      })
      .join("\n") + "\n",
  );
}

// --- report -------------------------------------------------------------------------------------------------------
const f = groundingFigures(rows);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const table = (head: string[], body: (string | number)[][]) => {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c).padEnd(w[i]!)).join(" | ")} |`;
  return [line(head), `|${w.map((x) => "-".repeat(x + 2)).join("|")}|`, ...body.map(line)].join("\n");
};
console.log(`\nGrounding on ${resolve(a.queries!).replace(ROOT + "/", "")} (rates are shares of the n sampled queries)\n`);
console.log(
  table(
    ["generator", "n", "gold cited", "any citation", "abstain, gold present", "abstain, gold removed", "wrong citation, gold removed", "uncited answer, gold removed", "p50 draft ms"],
    [[genLabel, f.n, pct(f.gold_cited_rate), pct(f.any_citation_rate), pct(f.abstain_rate_gold_present), pct(f.abstain_rate_gold_removed), pct(f.wrong_citation_rate_gold_removed), pct(f.uncited_answer_rate_gold_removed), f.draft_p50_ms]],
  ),
);
console.log(`\nanswer overlap (token-F1 of the gold-present draft against the gold thread's answers, best answer; ${f.answer_f1_n} drafts): ${f.answer_f1}`);
console.log(`\ngold thread among the passages in the prompt (the ceiling for "gold cited"): ${pct(f.gold_in_prompt_rate)}; cites only other threads with gold present: ${pct(f.wrong_citation_rate_gold_present)}`);
console.log(`draft latency (response agent only): p50 ${f.draft_p50_ms} ms, p95 ${f.draft_p95_ms} ms with gold present; p50 ${f.draft_p50_ms_gold_removed} ms with gold removed; knowledge p50 ${f.knowledge_p50_ms} ms`);

console.log("\nBy draft mode (how each draft was actually produced):\n");
const modeNames = [...new Set([...Object.keys(f.modes_gold_present), ...Object.keys(f.modes_gold_removed)])].sort();
const draftMs = (pass: Map<string, Run>, m: string) => Math.round(percentile([...pass.values()].filter((r) => r.obs.mode === m).map((r) => r.obs.draftMs), 50));
console.log(
  table(
    ["mode", "n (gold present)", "gold cited", "any citation", "p50 ms", "n (gold removed)", "any citation (= wrong)", "p50 ms (removed)"],
    modeNames.map((m) => {
      const p = f.modes_gold_present[m] ?? { n: 0, gold_cited: 0, any_citation: 0 };
      const r = f.modes_gold_removed[m] ?? { n: 0, gold_cited: 0, any_citation: 0 };
      return [m, p.n, p.gold_cited, p.any_citation, p.n ? draftMs(present, m) : "-", r.n, r.any_citation, r.n ? draftMs(removed, m) : "-"];
    }),
  ),
);

const fallbacks = new Map<string, number>();
for (const r of [...present.values(), ...removed.values()]) {
  const why = r.draft?.mode === "extractive" && r.draft.fallback_reason ? r.draft.fallback_reason.replace(/\d+/g, "N").slice(0, 80) : null;
  if (why) fallbacks.set(why, (fallbacks.get(why) ?? 0) + 1);
}
if (fallbacks.size) console.log(`\nextractive fallbacks: ${[...fallbacks].map(([k, v]) => `${v}× ${k}`).join("; ")}`);
if (f.worker_failures) console.log(`worker failures: ${rows.flatMap((r) => [...r.present.workerFailures, ...r.removed.workerFailures]).join(", ")}`);

const whatIf = thresholdWhatIf(rows, [0.62, 0.66, 0.7, 0.74, 0.78, 0.82]);
console.log(`\nDiagnostic, not the product's figures: abstain rate if the threshold on the best cosine were t (product: ${config.rag.threshold})`);
console.log(table(["t", "abstain, gold present", "abstain, gold removed"], whatIf.map((w) => [w.t.toFixed(2), pct(w.abstain_gold_present), pct(w.abstain_gold_removed)])));

let ceiling: ReturnType<typeof cutoffWhatIf>[number] | null = null;
if (head) {
  const cuts = Array.from({ length: 99 }, (_, i) => (i + 1) / 100);
  const w = cutoffWhatIf(rows, config.rag.threshold, cuts);
  // Present-abstention alone: "gold cited" is capped by the composer's rank-1 accuracy whatever the cut-off.
  ceiling = bestCutoff(w, 0, 0.05);
  console.log(`\nDiagnostic, not the product's figures (cut-off chosen with hindsight on these queries): abstain if P(answerable) were below c (product: ${head.threshold})`);
  console.log(table(["c", "gold cited", "abstain, gold present", "abstain, gold removed"], w.filter((x) => Math.round(x.cut * 100) % 10 === 0).map((x) => [x.cut.toFixed(2), pct(x.gold_cited), pct(x.abstain_gold_present), pct(x.abstain_gold_removed)])));
  const both = bestCutoff(w);
  console.log(ceiling ? `best hindsight cut-off keeping abstain present ≤ 5 %: c = ${ceiling.cut} → abstain with gold removed ${pct(ceiling.abstain_gold_removed)} (gold cited ${pct(ceiling.gold_cited)}, present ${pct(ceiling.abstain_gold_present)})` : "no cut-off keeps abstain present ≤ 5 %");
  console.log(both ? `best keeping gold cited ≥ 95 % as well: c = ${both.cut} → abstain with gold removed ${pct(both.abstain_gold_removed)}` : "no cut-off keeps gold cited ≥ 95 % (with no abstention at all it is the composer's rank-1 accuracy)");
}

const nEx = Number(a.examples);
if (nEx > 0) {
  console.log("\nExamples (gold present, then removed):");
  for (const q of picked.slice(0, nEx)) {
    for (const [label, run] of [["present", present.get(q.query_id)!], ["removed", removed.get(q.query_id)!]] as const) {
      const d = run.draft;
      console.log(`  ${q.query_id} [${label}] gold ${q.gold} → ${run.obs.mode}, cites ${run.obs.citedThreads.join(",") || "-"}: ${(d?.text ?? "").replace(/\s+/g, " ").slice(0, 200)}`);
    }
  }
}

const load1 = await loadAvg();
console.log(`\n${picked.length} queries in ${((tPresent + tRemoved) / 1000).toFixed(0)} s (gold present ${(tPresent / 1000).toFixed(0)} s, removed ${(tRemoved / 1000).toFixed(0)} s); load average ${load0} → ${load1}`);

await generator?.close();
await knowledge.close();
await triage.close();
tmp.cleanup();

const { modes_gold_present, modes_gold_removed, ...flat } = f;
console.log(
  JSON.stringify({
    generator: generator ? generator.kind : "none",
    model: generator?.model ?? null,
    seed,
    threshold: config.rag.threshold,
    answerability_head: headPath ? headPath.replace(ROOT + "/", "") : null,
    ...flat,
    modes_gold_present: Object.fromEntries(Object.entries(modes_gold_present).map(([k, v]) => [k, v.n])),
    modes_gold_removed: Object.fromEntries(Object.entries(modes_gold_removed).map(([k, v]) => [k, v.n])),
    hindsight_cutoff_ceiling: ceiling,
    encoder_max_batch: maxBatch ?? null,
    cpu_s: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e6),
    seconds: Math.round((tPresent + tRemoved) / 1000),
    load_avg_1m: [load0, load1],
  }),
);
// node-llama-cpp keeps a handle open after dispose under Bun: exit explicitly once the figures are out.
process.exit(0);
