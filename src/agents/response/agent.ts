import { AppError, ok, type Result } from "../../errors.ts";
import { composeExtractive, composeHolding, greeting, seeAlsoIndex } from "../../llm/extractive.ts";
import { fence, loadReplyTemplates, render, type LanguagePhrases, type ReplyTemplates } from "../../llm/prompts.ts";
import { draftPriority, type GenerationQueue, type Slot } from "../../llm/queue.ts";
import type { ChatMessage, Generation, Generator } from "../../llm/types.ts";
import type { SessionStore } from "../../session/interface.ts";
import type { Agent } from "../types.ts";
import { checkCitations, type Citation, type LabelledPassage } from "./citations.ts";
import { focusPassage } from "./focus.ts";
import { detectLanguage, logReply, NO_HISTORY, NO_SUMMARY, prepareMemory, replyMemoryOf, type MemoryOptions, type ReplyMemoryState } from "./memory.ts";
import { DEFAULT_POLICY, decide, looksLikeInjection, type AutoSendPolicy, type PolicyDecision } from "./policy.ts";
import { Redactor, restore, spansFromEntities, StreamRestorer } from "./redact.ts";
import type { ReplyStream } from "./stream.ts";
import type { SupersedeRegistry } from "./supersede.ts";

/** Tunables of the response agent (config `reply.*`). */
export interface ResponseAgentOptions {
  company: string;
  maxTokens: number;
  /** Token budget of the clarifying question when retrieval abstains. */
  questionMaxTokens: number;
  temperature: number;
  maxSentences: number;
  /** Passages given to the model (the best first). */
  maxPassages: number;
  /** Characters kept of each passage: the run of sentences most relevant to the message (see focus.ts). */
  passageChars: number;
  /** An extractive draft also names the second passage when its cosine is within this of the first's (negative = never; see seeAlsoIndex). */
  seeAlsoGap: number;
  memory: MemoryOptions;
  /** The generation's budget, counted from when it holds the generator (not while queued); cut a little earlier so a fallback draft still comes back. */
  timeoutMs: number;
  defaultLanguage: string;
  templateVersion: string;
}

/** Defaults sized for a small local model on 2 CPU cores. */
export const RESPONSE_DEFAULTS: ResponseAgentOptions = {
  company: "Northwind Bank",
  maxTokens: 200,
  questionMaxTokens: 48,
  temperature: 0.2,
  maxSentences: 5,
  maxPassages: 2,
  passageChars: 300,
  seeAlsoGap: 0.015,
  memory: { recentTurns: 6, summaryBudgetChars: 1200 },
  timeoutMs: 60_000,
  defaultLanguage: "en",
  templateVersion: "v2",
};

/** How the draft text was produced. */
export type DraftMode = "generated" | "abstain" | "extractive" | "superseded";

/** The response agent's output (`outputs.reply`); the chat shows `text` only when status is auto_sent or approved. */
export interface ReplyDraft {
  /** Customer-facing text: citation markers removed, PII restored by policy. */
  text: string;
  /** The same text with citations as footnote numbers `[1]` into `citations`, for the agent reviewing it. */
  annotated: string;
  status: "draft" | "auto_sent" | "superseded";
  mode: DraftMode;
  template: string;
  template_sha: string;
  generator: { kind: string; model: string } | null;
  /** Why the fallback was used, or why nothing was generated. */
  fallback_reason: string | null;
  /** Shown to the agent on the dashboard. */
  note: string | null;
  language: string;
  citations: Citation[];
  dropped_citations: string[];
  abstained: boolean;
  decision: PolicyDecision;
  injection_suspected: boolean;
  /** Placeholders used, by type (never the values). */
  pii: Record<string, number>;
  memory: { turns: number; summarized: boolean };
  finish: string | null;
  superseded_by: string | null;
  timings: {
    /** Message receipt → generation request (pipeline, triage and retrieval). */
    queue_ms: number;
    /** Waiting for the generator (the embedded one runs one request at a time). */
    generator_queue_ms: number | null;
    /** Generation request → first token. */
    ttft_ms: number | null;
    tokens_per_s: number | null;
    completion_tokens: number | null;
    prompt_tokens: number | null;
    generation_ms: number | null;
    /** Whole agent run. */
    total_ms: number;
  };
}

/** Dependencies of the response agent. */
export interface ResponseAgentDeps {
  /** Null when no model is configured: the agent composes the draft from the best passage and its note says why. */
  generator: Generator | null;
  templates?: ReplyTemplates;
  policy?: AutoSendPolicy;
  options?: Partial<ResponseAgentOptions>;
  /** Where the summary, language and reply log are saved (the master's session store). */
  sessions?: Pick<SessionStore, "setState">;
  stream?: ReplyStream;
  supersede?: SupersedeRegistry;
  /** Orders drafts waiting for the generator by urgency; without it the budget starts at the call. */
  queue?: GenerationQueue;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : null);
const str = (v: unknown): string | null => (typeof v === "string" && v ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const round = (v: number) => Math.round(v * 100) / 100;

/** Reads the stage-0 outputs defensively: workers evolve independently and may be missing or degraded. */
export function readSignals(previous: Readonly<Obj>) {
  const intent = obj(previous.intent);
  const top = Array.isArray(intent?.top) ? obj(intent!.top[0]) : null;
  const sentiment = obj(previous.sentiment);
  const urgency = sentiment?.urgency;
  const knowledge = obj(previous.knowledge);
  const list = Array.isArray(knowledge?.passages) ? (knowledge!.passages as unknown[]) : [];
  const passages = list.flatMap((p) => {
    const x = obj(p);
    const text = str(x?.text);
    const id = str(x?.chunk_id) ?? str(x?.id);
    // Internal guidance is never citable, even if a producer put it in the passage list.
    if (!x || !text || !id || x.audience === "internal") return [];
    return [{ chunk_id: id, doc_id: str(x.doc_id) ?? id, title: str(x.title) ?? "", section: str(x.section) ?? "", source: str(x.source) ?? "", url: str(x.url) ?? undefined, text, score: num(x.score) }];
  });
  return {
    intent: str(intent?.label),
    confidence: num(intent?.confidence) ?? num(top?.score),
    sentiment: str(sentiment?.label),
    urgency: typeof urgency === "string" ? urgency : str(obj(urgency)?.level),
    knowledgePresent: knowledge !== null,
    abstainReason: abstainReason(knowledge, passages.length),
    // A failed knowledge worker is treated as abstaining: no passages, no policy may be stated.
    abstained: knowledge === null || knowledge.abstain === true || knowledge.abstained === true || passages.length === 0,
    passages,
  };
}

/** Why retrieval abstained, in words for the agent: the knowledge agent's own reason when it gives one, else its figures. */
export function abstainReason(knowledge: Obj | null, passages: number): string {
  if (knowledge === null) return "knowledge retrieval failed";
  const given = str(knowledge.abstain_reason) ?? str(knowledge.reason);
  if (given) return given;
  const a = obj(knowledge.answerability);
  const p = num(a?.p);
  const cut = num(a?.threshold);
  if (p !== null && cut !== null && p < cut) return `the answerability model gives ${round(p)} that the knowledge base answers this (cut-off ${cut})`;
  if (passages === 0) return "no passage of the knowledge base cleared the relevance threshold";
  return "the knowledge agent abstained";
}

/**
 * Builds the chat messages of a grounded reply (also used by the benchmark and the grounding eval): the system prompt
 * (identical for every request in a language, so a local model keeps it in its prompt cache), then the request.
 * Empty conversation memory is left out of templates that carry it as one `{{memory}}` block, to save prompt tokens.
 */
export function buildReplyMessages(
  t: ReplyTemplates,
  o: Pick<ResponseAgentOptions, "company" | "maxSentences">,
  v: { language: LanguagePhrases; intent: string | null; summary: string; history: string; passages: LabelledPassage[]; message: string },
): ChatMessage[] {
  const passages = v.passages.map((p) => `<passage id="${p.label}" title="${fence(p.title).replace(/"/g, "'")}">\n${fence(p.text)}\n</passage>`).join("\n");
  const noSummary = v.summary === NO_SUMMARY;
  const noHistory = v.history === NO_HISTORY;
  const memory = [noSummary ? "" : `<summary>\n${fence(v.summary)}\n</summary>\n`, noHistory ? "" : `<history>\n${fence(v.history)}\n</history>\n`].join("");
  const user = render(t.user, {
    intent: v.intent ?? "unknown",
    guidance: (v.intent && t.guidance[v.intent]) || t.guidance.default!,
    summary: fence(v.summary),
    history: fence(v.history),
    memory,
    passages: passages || "(none)",
    message: fence(v.message),
  });
  return [...replyPrefix(t, o, v.language), { role: "user", content: user }];
}

/** The system prompt: identical for every request in a language, reply or clarifying question (the cached prefix). */
export function replyPrefix(t: ReplyTemplates, o: Pick<ResponseAgentOptions, "company" | "maxSentences">, language: LanguagePhrases): ChatMessage[] {
  return [{ role: "system", content: render(t.system, { company: o.company, max_sentences: o.maxSentences, language_name: language.name }) }];
}

const words = (s: string) => s.toLowerCase().match(/\p{L}+|\d+/gu) ?? [];
/** The customer's name as the channel gave it (chat identity, email From), if any. */
const customerName = (input: { user: { name?: string } }) => input.user.name ?? null;

const REFUSAL = /^(?:(?:i'?m sorry|i am sorry|sorry|unfortunately|i apologi[sz]e)(?: for [^,.!]{1,40})?)?[,.!\s]*(?:but\s+)?i(?:'m| am)? (?:can(?:no|')t|unable to|not able to|cannot|can ?not) (?:assist|help|provide|answer)/i;

/**
 * Why a model reply is not worth a reviewer's time, or null: an uncited refusal, a few uncited words (a heading),
 * or an echo of the customer's own message (small models do all three). The agent then drafts the extractive answer instead.
 */
export function unusableReply(reply: string, message: string, citations: number): string | null {
  if (citations === 0 && REFUSAL.test(reply.trim())) return "the model refused without citing anything";
  const r = words(reply);
  if (citations === 0 && r.length < 8) return "the model wrote no answer (a few words, nothing cited)";
  const m = new Set(words(message));
  if (m.size >= 4 && r.length > 0 && r.filter((w) => m.has(w)).length / r.length >= 0.8) return "the model repeated the customer's message";
  return null;
}

/** Keeps the first question of the model's output, or null when it did not write a usable one. */
export function firstQuestion(s: string): string | null {
  const text = s.replace(/\s+/g, " ").replace(/^["'“\s-]+/, "").trim();
  const q = text.indexOf("?");
  if (q < 8 || q > 300) return null;
  const out = text.slice(0, q + 1).trim();
  return /\[(?:P\d+|\d+)\]/.test(out) ? null : out;
}

/**
 * The response agent (stage 1, output `reply`): a grounded, cited draft in the customer's language, streamed as it
 * is generated, with PII redacted from every prompt, an auto-send decision with its reason, and a fallback that
 * never invents (extractive answer, or a follow-up promise with a clarifying question when retrieval abstained).
 */
export function createResponseAgent(deps: ResponseAgentDeps): Agent<ReplyDraft> {
  const o: ResponseAgentOptions = { ...RESPONSE_DEFAULTS, ...deps.options, memory: { ...RESPONSE_DEFAULTS.memory, ...deps.options?.memory } };
  const templates = deps.templates ?? loadReplyTemplates(o.templateVersion);
  const policy = deps.policy ?? DEFAULT_POLICY;
  if (o.timeoutMs < 500) throw new AppError("bad_options", "reply timeoutMs must be at least 500");

  return {
    name: "reply",
    stage: 1,
    // The runner's limit covers the wait for a generator slot too; the generation budget itself starts at the slot.
    timeoutMs: o.timeoutMs + (deps.queue ? deps.queue.o.maxWaitMs + 1000 : 0),
    async run(input, ctx): Promise<Result<ReplyDraft, AppError>> {
      const started = performance.now();
      const receivedAt = Date.parse(input.metadata.received_at);
      const sig = readSignals(ctx.previous);
      const state = replyMemoryOf(ctx.session.state);
      const language = detectLanguage(input.message.text) ?? state.reply_language ?? o.defaultLanguage;
      const phrases = templates.phrases[language] ?? templates.phrases.en!;

      const redactor = new Redactor();
      const message = redactor.redact(input.message.text, spansFromEntities(ctx.previous.entities, input.message.text));
      const memory = prepareMemory(ctx.session, input.id, redactor, o.memory);
      const passages: LabelledPassage[] = sig.passages.slice(0, o.maxPassages).map((p, i) => ({ ...p, label: `P${i + 1}`, text: focusPassage(p.text, message, o.passageChars) }));
      const injection = looksLikeInjection(input.message.text);
      const channel = input.source;

      const expected = decide(policy, { channel, intent: sig.intent, confidence: sig.confidence, sentiment: sig.sentiment, urgency: sig.urgency, abstained: sig.abstained, generated: true, citations: 1, finish: "stop", injectionSuspected: injection });
      const customerVisible = expected.status === "auto_sent";

      const ticket = deps.supersede?.begin(ctx.conversationId, input.id, input.metadata.received_at);
      const deadline = new AbortController();
      let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
      const waitSignal = AbortSignal.any([ctx.signal, ...(ticket ? [ticket.signal] : [])]);
      const signal = AbortSignal.any([waitSignal, deadline.signal]);

      const base = { conversation_id: ctx.conversationId, message_id: input.id };
      let seq = 0;
      let streamed = "";
      const restorer = new StreamRestorer(redactor.map);
      const emit = (text: string) => {
        if (!text) return;
        streamed += text;
        deps.stream?.publish({ type: "reply.delta", ...base, seq: seq++, text });
      };
      deps.stream?.publish({ type: "reply.start", ...base, template: templates.id, generator: deps.generator ? `${deps.generator.kind}:${deps.generator.model}` : null, customer_visible: customerVisible });

      let gen: Generation | null = null;
      let failure: string | null = null;
      let slot: Slot | null = null;
      let slotWaitMs: number | null = null;
      let gaveUp = false;
      const generationStart = Date.now();
      let budgetStart = performance.now();
      try {
        if (deps.generator && deps.queue && !waitSignal.aborted) {
          const got = await deps.queue.acquire(draftPriority(sig.urgency, sig.sentiment), waitSignal);
          slotWaitMs = got.ok ? got.slot.waitedMs : got.why.waitedMs;
          if (got.ok) slot = got.slot;
          else if (got.why.reason === "gave_up") {
            gaveUp = true;
            failure = `the generation queue gave up after waiting ${got.why.waitedMs} ms (${got.why.ahead} draft(s) ahead of it)`;
          }
        }
        budgetStart = performance.now();
        deadlineTimer = setTimeout(() => deadline.abort(), Math.max(100, o.timeoutMs - 400));
        if (!deps.generator) failure = "no generator is configured (no OLLAMA_HOST, and the embedded GGUF is used only with LLM_GENERATOR=embedded)";
        else if (gaveUp || signal.aborted) failure ??= ticket?.supersededBy() ? null : "cancelled before generation";
        else {
          let messages: ChatMessage[];
          let maxTokens = o.maxTokens;
          if (sig.abstained) {
            emit(`${greeting(phrases, customerName(input))}\n\n${phrases.follow_up} `);
            // Same prefix as a grounded reply, so alternating reply and abstain prompts keep the model's prompt cache.
            messages = [
              ...replyPrefix(templates, o, phrases),
              { role: "user", content: render(templates.abstain, { intent: sig.intent ?? "unknown", history: fence(memory.history), message: fence(message), language_name: phrases.name }) },
            ];
            maxTokens = o.questionMaxTokens;
          } else {
            messages = buildReplyMessages(templates, o, { language: phrases, intent: sig.intent, summary: memory.summary, history: memory.history, passages, message });
          }
          const r = await deps.generator.generate({ messages, maxTokens, temperature: o.temperature, signal, onDelta: (d) => emit(restorer.push(d)) });
          if (r.ok) {
            gen = r.value;
            emit(restorer.flush());
            if (gen.finish === "aborted" && !ticket?.supersededBy()) {
              failure = deadline.signal.aborted ? `the generator timed out after ${Math.round(performance.now() - budgetStart)} ms (budget ${o.timeoutMs} ms from the start of generation)` : "generation cancelled";
            }
          } else if (deadline.signal.aborted) {
            failure = `the generator timed out after ${Math.round(performance.now() - budgetStart)} ms (budget ${o.timeoutMs} ms from the start of generation)`;
          } else failure = `${r.error.code}: ${r.error.message}`;
        }
      } finally {
        clearTimeout(deadlineTimer);
        slot?.release();
        ticket?.done();
      }

      const supersededBy = ticket?.supersededBy() ?? null;
      let mode: DraftMode;
      let text: string;
      let annotated: string;
      let citations: Citation[] = [];
      let dropped: string[] = [];
      let note: string | null = null;
      if (supersededBy) {
        mode = "superseded";
        text = annotated = restore(gen?.text ?? "", redactor.map).trim();
        note = `superseded by newer message ${supersededBy}: this draft is kept for the record and is never sent`;
      } else if (sig.abstained) {
        mode = "abstain";
        const modelQ = !failure && gen ? firstQuestion(restore(gen.text, redactor.map)) : null;
        text = annotated = composeHolding({ phrases, name: customerName(input), company: o.company, question: modelQ ?? phrases.clarify });
        note = `No answer was drafted because ${sig.abstainReason}: the customer is told a colleague will follow up and is asked one clarifying question (${modelQ ? "written by the model" : `the fixed question: ${failure ?? "the model wrote no usable question"}`}).`;
      } else {
        const checked = !failure && gen ? checkCitations(restore(gen.text, redactor.map), passages) : null;
        let unusable = checked ? unusableReply(checked.text, input.message.text, checked.citations.length) : null;
        // An answer that cites none of the passages cannot be checked against them: small models invent those.
        if (checked && !unusable && checked.text.length >= 2 && checked.citations.length === 0) unusable = "it cites none of the retrieved passages, so nothing in it can be checked";
        if (unusable) failure = `the model's text was rejected by the citation check: ${unusable}`;
        if (checked && !unusable && checked.text.length >= 2) {
          mode = "generated";
          ({ text, annotated, citations } = checked);
          dropped = checked.dropped;
          if (dropped.length) note = `dropped citation(s) not among the retrieved passages: ${dropped.join(", ")}`;
        } else {
          mode = "extractive";
          failure ??= "the model returned no text";
          const best = passages[0]!;
          const alsoIx = seeAlsoIndex(passages, o.seeAlsoGap);
          const also = alsoIx !== null ? passages[alsoIx]! : null;
          const ex = checkCitations(composeExtractive({ phrases, name: customerName(input), company: o.company, query: message, passage: { ...best, text: sig.passages[0]!.text }, seeAlso: also }), passages);
          ({ text, annotated, citations } = ex);
          const where = (p: LabelledPassage) => [p.title, p.section].filter(Boolean).join(" › ") || p.chunk_id;
          note = `Not written by a model: ${failure}. This draft quotes the best-matching help article (${where(best)}) between a fixed greeting and sign-off.${also ? ` It also names ${where(also)}, which scored almost as high (cosine ${also.score} against ${best.score}): check which one answers.` : ""}`;
        }
      }

      const decision: PolicyDecision = supersededBy
        ? { status: "draft", reason: `superseded by ${supersededBy}`, checks: [] }
        : decide(policy, {
            channel,
            intent: sig.intent,
            confidence: sig.confidence,
            sentiment: sig.sentiment,
            urgency: sig.urgency,
            abstained: sig.abstained,
            generated: mode === "generated",
            citations: citations.length,
            finish: gen?.finish ?? null,
            injectionSuspected: injection,
          });
      const status: ReplyDraft["status"] = supersededBy ? "superseded" : decision.status;
      deps.stream?.publish({ type: "reply.end", ...base, status, replaced: text !== streamed.trim(), retract: customerVisible && status !== "auto_sent" });

      const patch: ReplyMemoryState = {
        reply_language: language,
        reply_log: logReply(state.reply_log, { message_id: input.id, text, status, at: new Date().toISOString() }),
        ...(memory.summaryUpdate ? { reply_summary: memory.summaryUpdate } : {}),
      };
      Object.assign(ctx.session.state, patch);
      await deps.sessions?.setState(ctx.conversationId, patch as Record<string, unknown>).catch((e) => ctx.log.warn({ code: (e as AppError).code ?? "session_error" }, "reply memory not saved"));

      return ok({
        text,
        annotated,
        status,
        mode,
        template: templates.id,
        template_sha: templates.sha,
        generator: deps.generator ? { kind: deps.generator.kind, model: deps.generator.model } : null,
        fallback_reason: supersededBy ? null : failure,
        note,
        language,
        citations,
        dropped_citations: dropped,
        abstained: sig.abstained,
        decision,
        injection_suspected: injection,
        pii: redactor.summary(),
        memory: { turns: memory.turnsUsed, summarized: memory.summary !== NO_SUMMARY },
        finish: gen?.finish ?? null,
        superseded_by: supersededBy,
        timings: {
          queue_ms: round(Math.max(0, generationStart - receivedAt)),
          generator_queue_ms: slotWaitMs !== null || gen ? round((slotWaitMs ?? 0) + (gen?.queueMs ?? 0)) : null,
          ttft_ms: gen?.ttftMs === null || gen?.ttftMs === undefined ? null : round(gen.ttftMs + gen.queueMs),
          tokens_per_s: gen?.tokensPerS ?? null,
          completion_tokens: gen?.completionTokens ?? null,
          prompt_tokens: gen?.promptTokens ?? null,
          generation_ms: gen ? round(gen.totalMs + gen.queueMs) : null,
          total_ms: round(performance.now() - started),
        },
      });
    },
  };
}
