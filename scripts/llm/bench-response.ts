/**
 * bench:response — time to first token, tokens/s and total time per draft of the embedded generator
 * (node-llama-cpp, in-process) on 20 realistic support prompts built with the real reply template and passages
 * from the default knowledge base (the two best sections by word overlap). One warm-up draft loads the model.
 *
 *   bun run bench:response [--model models/llm/x.gguf] [--threads 2] [--max-tokens 96] [--n 20]
 *
 * The last line is JSON: {"ttft_p50_ms", "ttft_p95_ms", "tokens_per_s", "total_p50_ms", ...}.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildReplyMessages, RESPONSE_DEFAULTS } from "../../src/agents/response/agent.ts";
import type { LabelledPassage } from "../../src/agents/response/citations.ts";
import { LlamaCppGenerator } from "../../src/llm/llamacpp.ts";
import { loadReplyTemplates } from "../../src/llm/prompts.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "models/llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" },
    threads: { type: "string", default: "2" },
    "max-tokens": { type: "string", default: "96" },
    n: { type: "string", default: "20" },
    ctx: { type: "string", default: "2048" },
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

type Section = { doc: string; title: string; section: string; text: string; words: Set<string> };
const words = (s: string) => new Set((s.toLowerCase().match(/[a-z]{3,}/g) ?? []).filter((w) => !["the", "and", "for", "you", "your", "with", "what", "how", "can", "are", "was", "this", "that", "have"].includes(w)));
function sections(dir: string): Section[] {
  const out: Section[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".md") && f !== "README.md")) {
    const body = readFileSync(join(dir, f), "utf8").replace(/^---[\s\S]*?---\n/, "");
    const title = /^# (.+)$/m.exec(body)?.[1] ?? f;
    for (const part of body.split(/\n(?=## )/)) {
      const section = /^## (.+)$/m.exec(part)?.[1] ?? "";
      const text = part.replace(/^#+ .+$/gm, "").trim();
      if (text.length > 40) out.push({ doc: f.replace(/\.md$/, ""), title, section, text, words: words(`${title} ${section} ${text}`) });
    }
  }
  return out;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

const kb = sections("kb/northwind");
const templates = loadReplyTemplates();
const en = templates.phrases.en!;
const n = Math.min(Number(values.n), MESSAGES.length);
const maxTokens = Number(values["max-tokens"]);
const gen = new LlamaCppGenerator({ modelPath: values.model!, threads: Number(values.threads), contextSize: Number(values.ctx), queueTimeoutMs: 600_000 });

const prompts = MESSAGES.slice(0, n).map(([intent, text]) => {
  const q = words(text);
  const best = kb.map((s) => ({ s, score: [...q].filter((w) => s.words.has(w)).length })).sort((a, b) => b.score - a.score).slice(0, 2);
  const passages: LabelledPassage[] = best.map(({ s }, i) => ({ label: `P${i + 1}`, chunk_id: `${s.doc}#${i}`, doc_id: s.doc, title: s.title, section: s.section, source: `kb/northwind/${s.doc}.md`, text: s.text.slice(0, RESPONSE_DEFAULTS.passageChars), score: null }));
  return buildReplyMessages(templates, { company: "Northwind Bank", maxSentences: RESPONSE_DEFAULTS.maxSentences }, { language: en, intent, summary: "(none)", history: "(no earlier messages)", passages, message: text });
});

const loadStart = performance.now();
const warm = await gen.generate({ messages: prompts[0]!, maxTokens: 8, temperature: 0.2 });
if (!warm.ok) {
  console.error(`embedded generator unavailable: ${warm.error.message}`);
  process.exit(1);
}
console.log(`model ${gen.model} loaded and warmed in ${Math.round(performance.now() - loadStart)} ms; ${n} drafts, max ${maxTokens} tokens, ${values.threads} threads`);

const ttft: number[] = [];
const tps: number[] = [];
const total: number[] = [];
const promptTokens: number[] = [];
let tokens = 0;
let genMs = 0;
for (let i = 0; i < n; i++) {
  const r = await gen.generate({ messages: prompts[i]!, maxTokens, temperature: 0.2 });
  if (!r.ok) {
    console.error(`draft ${i + 1} failed: ${r.error.message}`);
    process.exit(1);
  }
  const g = r.value;
  if (g.ttftMs !== null) ttft.push(g.ttftMs + g.queueMs);
  if (g.tokensPerS !== null) tps.push(g.tokensPerS);
  total.push(g.totalMs + g.queueMs);
  if (g.promptTokens !== null) promptTokens.push(g.promptTokens);
  tokens += g.completionTokens;
  genMs += g.totalMs - (g.ttftMs ?? 0);
  console.log(`${String(i + 1).padStart(2)}  ttft ${String(Math.round(g.ttftMs ?? -1)).padStart(5)} ms  ${String(g.completionTokens).padStart(3)} tok  ${String(g.tokensPerS ?? "-").padStart(6)} tok/s  total ${String(Math.round(g.totalMs)).padStart(6)} ms  prompt ${g.promptTokens} tok  | ${g.text.replace(/\s+/g, " ").slice(0, 90)}`);
}
await gen.close();
const summary = {
  model: gen.model,
  threads: Number(values.threads),
  drafts: n,
  max_tokens: maxTokens,
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
