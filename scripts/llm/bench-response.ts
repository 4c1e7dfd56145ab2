/**
 * bench:response — time to first token, tokens/s and total time per draft of the embedded generator
 * (node-llama-cpp, in-process) on 20 support messages sent through the product's own path: triage (intent,
 * sentiment, entities), the knowledge agent over the default knowledge base (kb/, indexed into a temp folder) and
 * the response agent with the configured template, passage count and passage budget (REPLY_* env, or the flags).
 * One warm-up draft (a message not in the set) loads the model and fills the cached prompt prefix.
 *
 *   bun run bench:response [--model models/llm/x.gguf] [--threads 2] [--max-tokens 96] [--n 20]
 *                          [--passages 3] [--passage-chars 360] [--template v2]
 *
 * The last line is JSON: {"ttft_p50_ms", "ttft_p95_ms", "tokens_per_s", "total_p50_ms", ...}.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runWorker } from "../../src/agents/master.ts";
import { createResponseAgent, type ReplyDraft } from "../../src/agents/response/agent.ts";
import type { Agent } from "../../src/agents/types.ts";
import { loadConfig } from "../../src/config.ts";
import { LlamaCppGenerator } from "../../src/llm/llamacpp.ts";
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
  },
});

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
const gen = new LlamaCppGenerator({ modelPath: values.model!, threads: Number(values.threads), contextSize: Number(values.ctx), queueTimeoutMs: 600_000 });
const reply = createResponseAgent({
  generator: gen,
  options: { company: "Northwind Bank", maxTokens, temperature: 0.2, timeoutMs: 600_000, maxPassages: Number(values.passages), passageChars: Number(values["passage-chars"]), templateVersion: values.template! },
});
const stage0: Agent[] = [...triage.agents, knowledge.agent];

let seq = 0;
async function draft(text: string): Promise<ReplyDraft> {
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
  const r = await runWorker(reply, msg, { conversationId, session, previous, log }, 600_000, 0);
  if (!r.ok) throw new Error(`draft failed: ${r.failure.code} ${r.failure.message}`);
  return r.value as ReplyDraft;
}

const loadStart = performance.now();
if (!(await gen.ping())) {
  console.error(`embedded generator unavailable: no loadable GGUF at ${values.model} (run scripts/llm/obtain-model.sh)`);
  process.exit(1);
}
await draft("Hello, how do I update the address on my account?");
console.log(`model ${gen.model} loaded and warmed in ${Math.round(performance.now() - loadStart)} ms; ${n} drafts, max ${maxTokens} tokens, ${values.threads} threads, template ${values.template}, ${values.passages} passages of at most ${values["passage-chars"]} chars`);

const ttft: number[] = [];
const tps: number[] = [];
const total: number[] = [];
const promptTokens: number[] = [];
const modes: Record<string, number> = {};
let tokens = 0;
let genMs = 0;
for (let i = 0; i < n; i++) {
  const d = await draft(MESSAGES[i]![1]);
  const t = d.timings;
  modes[d.mode] = (modes[d.mode] ?? 0) + 1;
  if (t.ttft_ms !== null) ttft.push(t.ttft_ms);
  if (t.tokens_per_s !== null) tps.push(t.tokens_per_s);
  if (t.generation_ms !== null) total.push(t.generation_ms);
  if (t.prompt_tokens !== null) promptTokens.push(t.prompt_tokens);
  tokens += t.completion_tokens ?? 0;
  genMs += (t.generation_ms ?? 0) - (t.ttft_ms ?? 0);
  console.log(`${String(i + 1).padStart(2)}  ttft ${String(Math.round(t.ttft_ms ?? -1)).padStart(5)} ms  ${String(t.completion_tokens ?? 0).padStart(3)} tok  ${String(t.tokens_per_s ?? "-").padStart(6)} tok/s  total ${String(Math.round(t.generation_ms ?? -1)).padStart(6)} ms  prompt ${t.prompt_tokens} tok  ${d.mode.padEnd(10)} cites ${d.citations.length} | ${(d.mode === "generated" ? d.text : `(${d.note})`).replace(/\s+/g, " ").slice(0, 110)}`);
}
await gen.close();
await knowledge.close();
tmp.cleanup();
const summary = {
  model: gen.model,
  threads: Number(values.threads),
  drafts: n,
  max_tokens: maxTokens,
  template: values.template,
  passages: Number(values.passages),
  passage_chars: Number(values["passage-chars"]),
  modes,
  ttft_p50_ms: Math.round(pct(ttft, 50)),
  ttft_p95_ms: Math.round(pct(ttft, 95)),
  tokens_per_s: r1(tokens / (genMs / 1000)),
  tokens_per_s_p50: r1(pct(tps, 50)),
  total_p50_ms: Math.round(pct(total, 50)),
  total_p95_ms: Math.round(pct(total, 95)),
  prompt_tokens_p50: Math.round(pct(promptTokens, 50)),
  load_avg_1m: Number((await Bun.file("/proc/loadavg").text().catch(() => "0")).split(" ")[0]),
};
console.log(`TTFT p50 ${summary.ttft_p50_ms} ms, p95 ${summary.ttft_p95_ms} ms; ${summary.tokens_per_s} tokens/s; total per draft p50 ${summary.total_p50_ms} ms, p95 ${summary.total_p95_ms} ms`);
console.log(JSON.stringify(summary));
// node-llama-cpp keeps a handle open after dispose under Bun: exit explicitly once the figures are out.
process.exit(0);
