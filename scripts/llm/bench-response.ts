/**
 * bench:response — time to first token, tokens/s and total time per draft of the embedded generator
 * (node-llama-cpp, in-process) on 20 support messages sent through the product's own path: triage (intent,
 * sentiment, entities), the knowledge agent over the default knowledge base (kb/, indexed into a temp folder) and
 * the response agent with the configured template, passage count and passage budget (REPLY_* env, or the flags).
 * One warm-up draft (a message not in the set) loads the model and fills the cached prompt prefix.
 *
 *   bun run bench:response [--model models/llm/x.gguf] [--threads 2] [--max-tokens 96] [--n 20]
 *                          [--passages 3] [--passage-chars 360] [--template v2]
 *                          [--generator embedded|ollama] [--ollama-host URL] [--ollama-model support-copilot]
 *
 * --generator ollama drafts every message twice, through the Ollama server (OLLAMA_HOST, e.g. the one of
 * scripts/services.sh) and through the embedded generator, one after the other on the same stage-0 outputs (so the
 * same prompts under the same machine load), and prints the figures side by side.
 *
 * The last line is JSON: {"ttft_p50_ms", "ttft_p95_ms", "tokens_per_s", "total_p50_ms", ...}; with --generator
 * ollama it is {"generators": {"ollama": {...}, "embedded": {...}}, "load_avg_1m": ...}.
 */
import { triageAgents } from "../../src/agents/triage/index.ts";
import { knowledgeAgent } from "../../src/agents/knowledge/index.ts";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runWorker } from "../../src/agents/master.ts";
import { createResponseAgent, type ReplyDraft } from "../../src/agents/response/agent.ts";
import type { Agent } from "../../src/agents/types.ts";
import { loadConfig } from "../../src/config.ts";
import { LlamaCppGenerator } from "../../src/llm/llamacpp.ts";
import { OllamaGenerator } from "../../src/llm/ollama.ts";
import type { Generator } from "../../src/llm/types.ts";
import { loadTriage } from "../../src/ml/index.ts";
import { createLogger } from "../../src/obs/log.ts";
import { loadAnswerabilityHead, openKnowledge } from "../../src/rag/index.ts";
import type { CustomerMessage } from "../../src/schema/message.ts";
import { emptySession } from "../../src/session/interface.ts";
import { tempDir } from "../rag/util.ts";

const config = loadConfig(process.env);
const { values } = parseArgs({
  options: {
    model: { type: "string", default: config.llm.modelPath },
    threads: { type: "string", default: String(config.llm.threads) },
    "max-tokens": { type: "string", default: "96" },
    n: { type: "string", default: "20" },
    ctx: { type: "string", default: String(config.llm.contextSize) },
    passages: { type: "string", default: String(config.reply.maxPassages) },
    "passage-chars": { type: "string", default: String(config.reply.passageChars) },
    template: { type: "string", default: config.reply.templateVersion },
    generator: { type: "string", default: "embedded" },
    "ollama-host": { type: "string", default: config.ollama?.host ?? "http://127.0.0.1:51434" },
    "ollama-model": { type: "string", default: config.ollama?.model ?? "support-copilot" },
  },
});
if (values.generator !== "embedded" && values.generator !== "ollama") {
  console.error(`--generator must be embedded or ollama, not ${values.generator}`);
  process.exit(2);
}

const MESSAGES: [intent: string, text: string][] = [
  ["card_lost_stolen", "I think my debit card was stolen on the train this morning, what do I do?"],
  ["card_declined", "My card keeps getting declined at the supermarket even though I have money in the account."],
  ["card_declined", "Why was my card declined when I tried to pay a hotel in Spain?"],
  ["fees", "How much does it cost to take cash out abroad with a standard account?"],
  ["transfer", "I sent money to the wrong account number yesterday. Can I get it back?"],
  ["transfer", "How long does an international transfer to Germany take?"],
  ["direct_debit", "A direct debit was taken that I cancelled last month. How do I get a refund?"],
  ["account_access", "I changed phones and now I can't log in because the 2FA codes go to my old phone."],
  ["fraud", "I got a text saying my account is locked and asking me to click a link. Is it real?"],
  ["fraud", "Someone called pretending to be from the bank and I gave them a code. What now?"],
  ["account_close", "I want to close my account, what happens to the money left in it?"],
  ["account_open", "What documents do I need to open an account? I just moved to the UK."],
  ["dispute", "I was charged twice for the same order at an online shop. How do I dispute it?"],
  ["dispute", "A merchant never delivered my order and won't answer emails. Can you help me get my money back?"],
  ["complaint", "This is the third time I've contacted you about the same problem and nobody has fixed it. I want to complain."],
  ["privacy", "Can I get a copy of all the personal data you hold about me?"],
  ["billing", "Our business plan invoice went up this month and I don't understand why."],
  ["api", "Our integration gets 429 errors from the payments API. What are the rate limits?"],
  ["limits", "What is the daily limit for card payments and cash withdrawals?"],
  ["pin", "I entered the wrong PIN three times and now it's blocked. How do I unblock it?"],
];

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

const log = createLogger("silent");
const n = Math.min(Number(values.n), MESSAGES.length);
const maxTokens = Number(values["max-tokens"]);
const triage = await loadTriage({ modelsDir: config.models.dir });
const tmp = tempDir("bench-response-");
const knowledge = await openKnowledge({
  embedder: triage.embedder,
  dataDir: join(tmp.dir, "index"),
  kbDir: "kb",
  log,
  params: { threshold: config.rag.threshold },
  answerability: config.rag.answerabilityHead ? loadAnswerabilityHead(config.rag.answerabilityHead) : null,
});
const embedded = new LlamaCppGenerator({ modelPath: values.model!, threads: Number(values.threads), contextSize: Number(values.ctx), queueTimeoutMs: 600_000 });
const generators: { label: string; gen: Generator }[] = [];
if (values.generator === "ollama") {
  const ollama = new OllamaGenerator({
    host: values["ollama-host"]!,
    model: values["ollama-model"]!,
    keepAlive: "30m",
    connectTimeoutMs: 10_000,
    firstTokenTimeoutMs: 300_000,
    idleTimeoutMs: 60_000,
    totalTimeoutMs: 600_000,
    retries: 0,
    numCtx: Number(values.ctx),
    // The same thread count as the embedded generator, so the comparison is of the servers, not of the threads.
    numThread: Number(values.threads),
  });
  generators.push({ label: "ollama", gen: ollama });
}
generators.push({ label: "embedded", gen: embedded });
const replyAgent = (generator: Generator) =>
  createResponseAgent({
    generator,
    options: { company: "Northwind Bank", maxTokens, temperature: 0.2, timeoutMs: 600_000, maxPassages: Number(values.passages), passageChars: Number(values["passage-chars"]), templateVersion: values.template! },
  });
const replies = generators.map((g) => ({ ...g, agent: replyAgent(g.gen) }));
const stage0: Agent[] = [...triageAgents(triage.model), knowledgeAgent(knowledge)];

let seq = 0;
/** One message through stage 0 once, then through each generator's response agent on the same inputs. */
async function draft(text: string): Promise<ReplyDraft[]> {
  seq++;
  const conversationId = `bench:${seq}`;
  const msg: CustomerMessage = {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    source: "chat",
    user: { id: `bench-${seq}` },
    message: { text, attachments: [] },
    metadata: { received_at: new Date().toISOString(), conversation_id: conversationId },
  };
  const session = emptySession(conversationId);
  const previous: Record<string, unknown> = {};
  await Promise.all(stage0.map(async (agent) => {
    const r = await runWorker(agent, msg, { conversationId, session, previous: {}, log }, 30_000, 0);
    if (r.ok) previous[agent.name] = r.value;
  }));
  const drafts: ReplyDraft[] = [];
  for (const { agent } of replies) {
    const r = await runWorker(agent, msg, { conversationId, session: emptySession(conversationId), previous, log }, 600_000, 0);
    if (!r.ok) throw new Error(`draft failed: ${r.failure.code} ${r.failure.message}`);
    drafts.push(r.value as ReplyDraft);
  }
  return drafts;
}

const loadAvg = async () => Number((await Bun.file("/proc/loadavg").text().catch(() => "0")).split(" ")[0]);
const loadStart = performance.now();
for (const { label, gen } of generators) {
  if (await gen.ping()) continue;
  console.error(label === "ollama"
    ? `Ollama unavailable: no model ${values["ollama-model"]} at ${values["ollama-host"]} (start it with: bash scripts/services.sh up ollama)`
    : `embedded generator unavailable: no loadable GGUF at ${values.model} (run scripts/llm/obtain-model.sh)`);
  process.exit(1);
}
await draft("Hello, how do I update the address on my account?");
console.log(`${generators.map((g) => `${g.label} ${g.gen.model}`).join(" and ")} loaded and warmed in ${Math.round(performance.now() - loadStart)} ms; ${n} drafts, max ${maxTokens} tokens, ${values.threads} threads, template ${values.template}, ${values.passages} passages of at most ${values["passage-chars"]} chars; load average ${await loadAvg()} at start`);

/** Figures of one generator over the run. */
class Stats {
  ttft: number[] = [];
  tps: number[] = [];
  total: number[] = [];
  promptTokens: number[] = [];
  modes: Record<string, number> = {};
  tokens = 0;
  genMs = 0;
  add(d: ReplyDraft): void {
    const t = d.timings;
    this.modes[d.mode] = (this.modes[d.mode] ?? 0) + 1;
    if (t.ttft_ms !== null) this.ttft.push(t.ttft_ms);
    if (t.tokens_per_s !== null) this.tps.push(t.tokens_per_s);
    if (t.generation_ms !== null) this.total.push(t.generation_ms);
    if (t.prompt_tokens !== null) this.promptTokens.push(t.prompt_tokens);
    this.tokens += t.completion_tokens ?? 0;
    this.genMs += (t.generation_ms ?? 0) - (t.ttft_ms ?? 0);
  }
  summary(model: string) {
    return {
      model,
      threads: Number(values.threads),
      drafts: n,
      max_tokens: maxTokens,
      template: values.template,
      passages: Number(values.passages),
      passage_chars: Number(values["passage-chars"]),
      modes: this.modes,
      ttft_p50_ms: Math.round(pct(this.ttft, 50)),
      ttft_p95_ms: Math.round(pct(this.ttft, 95)),
      tokens_per_s: r1(this.tokens / (this.genMs / 1000)),
      tokens_per_s_p50: r1(pct(this.tps, 50)),
      total_p50_ms: Math.round(pct(this.total, 50)),
      total_p95_ms: Math.round(pct(this.total, 95)),
      prompt_tokens_p50: Math.round(pct(this.promptTokens, 50)),
      completion_tokens: this.tokens,
    };
  }
}

const stats = generators.map(() => new Stats());
const loads: number[] = [];
for (let i = 0; i < n; i++) {
  const drafts = await draft(MESSAGES[i]![1]);
  loads.push(await loadAvg());
  drafts.forEach((d, k) => {
    stats[k]!.add(d);
    const t = d.timings;
    const tag = generators.length > 1 ? `${generators[k]!.label.padEnd(8)} ` : "";
    console.log(`${String(i + 1).padStart(2)}  ${tag}ttft ${String(Math.round(t.ttft_ms ?? -1)).padStart(5)} ms  ${String(t.completion_tokens ?? 0).padStart(3)} tok  ${String(t.tokens_per_s ?? "-").padStart(6)} tok/s  total ${String(Math.round(t.generation_ms ?? -1)).padStart(6)} ms  prompt ${t.prompt_tokens} tok  ${d.mode.padEnd(10)} cites ${d.citations.length} | ${(d.mode === "generated" ? d.text : `(${d.note})`).replace(/\s+/g, " ").slice(0, 110)}`);
  });
}
for (const { gen } of generators) await gen.close();
await knowledge.close();
tmp.cleanup();
const summaries = generators.map((g, k) => stats[k]!.summary(g.gen.model));
const loadAvg1m = r1(pct(loads, 50));
for (const [k, s] of summaries.entries()) {
  console.log(`${generators.length > 1 ? `${generators[k]!.label}: ` : ""}TTFT p50 ${s.ttft_p50_ms} ms, p95 ${s.ttft_p95_ms} ms; ${s.tokens_per_s} tokens/s; total per draft p50 ${s.total_p50_ms} ms, p95 ${s.total_p95_ms} ms`);
}
if (generators.length > 1) {
  const rows: [string, (s: (typeof summaries)[number]) => string | number][] = [
    ["TTFT p50 (ms)", (s) => s.ttft_p50_ms],
    ["TTFT p95 (ms)", (s) => s.ttft_p95_ms],
    ["tokens/s (decode)", (s) => s.tokens_per_s],
    ["tokens/s p50 (per draft)", (s) => s.tokens_per_s_p50],
    ["total p50 (ms)", (s) => s.total_p50_ms],
    ["total p95 (ms)", (s) => s.total_p95_ms],
    ["prompt tokens p50", (s) => s.prompt_tokens_p50],
    ["completion tokens", (s) => s.completion_tokens],
    ["modes", (s) => Object.entries(s.modes).map(([m, c]) => `${m} ${c}`).join(", ")],
  ];
  console.log(`\n${"".padEnd(26)}${generators.map((g) => ` ${g.label.padStart(25)}`).join("")}   (load average p50 ${loadAvg1m} on ${navigator.hardwareConcurrency} cores)`);
  for (const [name, f] of rows) console.log(`${name.padEnd(26)}${summaries.map((s) => ` ${String(f(s)).padStart(25)}`).join("")}`);
  console.log(JSON.stringify({ generators: Object.fromEntries(generators.map((g, k) => [g.label, summaries[k]])), load_avg_1m: loadAvg1m, cores: navigator.hardwareConcurrency }));
} else {
  const { completion_tokens: _, ...single } = summaries[0]!;
  console.log(JSON.stringify({ ...single, load_avg_1m: loadAvg1m }));
}
// node-llama-cpp keeps a handle open after dispose under Bun: exit explicitly once the figures are out.
process.exit(0);
