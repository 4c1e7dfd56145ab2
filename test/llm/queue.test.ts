import { describe, expect, test } from "bun:test";
import { urgencyOf } from "../../src/agents/drafting.ts";
import { createResponseAgent, type ReplyDraft } from "../../src/agents/response/agent.ts";
import type { ResultEvent } from "../../src/agents/types.ts";
import { ok } from "../../src/errors.ts";
import { draftPriority, GenerationQueue } from "../../src/llm/queue.ts";
import type { Generator } from "../../src/llm/types.ts";
import { createLogger } from "../../src/obs/log.ts";
import { emptySession } from "../../src/session/interface.ts";

const log = createLogger("silent");

/** A generator that answers with a cited sentence after `ms`. */
const slow = (ms: number): Generator => ({
  kind: "ollama",
  model: "fake",
  async generate(req) {
    await Bun.sleep(ms);
    const text = "Freeze the card in the app [P1].";
    req.onDelta?.(text);
    return ok({ text, finish: "stop", generator: "ollama", model: "fake", promptTokens: 5, completionTokens: 8, queueMs: 0, ttftMs: ms, tokensPerS: 10, totalMs: ms, attempts: 1 });
  },
  ping: async () => true,
  close: async () => {},
});

const knowledge = { abstain: false, passages: [{ chunk_id: "cards#lost:0", doc_id: "cards", title: "Lost card", section: "", source: "kb/cards.md", text: "Freeze the card in the app under Cards > Freeze.", score: 0.8 }] };
let n = 0;
const run = async (agent: ReturnType<typeof createResponseAgent>, urgency = "normal"): Promise<ReplyDraft> => {
  n++;
  const id = `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
  const session = emptySession(`chat:q${n}`);
  const r = await agent.run(
    { id, source: "chat", user: { id: "v" }, message: { text: "I lost my card", attachments: [] }, metadata: { received_at: new Date().toISOString(), conversation_id: session.conversationId } },
    { conversationId: session.conversationId, session, previous: { intent: { label: "card_lost", confidence: 0.9 }, sentiment: { label: "neutral", urgency: { level: urgency } }, knowledge }, signal: new AbortController().signal, log },
  );
  if (!r.ok) throw r.error;
  return r.value;
};

describe("generation queue", () => {
  test("waiting drafts get the generator most urgent first, first come first served within an urgency", async () => {
    const q = new GenerationQueue({ concurrency: 1, maxWaitMs: 5000 });
    const first = await q.acquire(0);
    if (!first.ok) throw new Error("no slot");
    const order: string[] = [];
    const wait = (name: string, p: number) =>
      q.acquire(p).then((r) => {
        if (!r.ok) throw new Error(name);
        order.push(name);
        r.slot.release();
      });
    const all = Promise.all([wait("low", draftPriority("low", "neutral")), wait("normal-1", draftPriority("normal", null)), wait("high", draftPriority("high", "neutral")), wait("normal-2", draftPriority("normal", null)), wait("high-frustrated", draftPriority("high", "frustrated"))]);
    expect(q.waiting).toBe(5);
    first.slot.release();
    await all;
    expect(order).toEqual(["high-frustrated", "high", "normal-1", "normal-2", "low"]);
  });

  test("a draft that waited longer than maxWaitMs gives up and says how long and behind how many", async () => {
    const q = new GenerationQueue({ concurrency: 1, maxWaitMs: 50 });
    const held = await q.acquire(1);
    const r = await q.acquire(1);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.why.reason).toBe("gave_up");
      expect(r.why.waitedMs).toBeGreaterThanOrEqual(45);
      expect(r.why.ahead).toBe(1);
    }
    if (held.ok) held.slot.release();
    expect(q.waiting).toBe(0);
  });

  test("a draft's budget starts when its generation starts, not while it queues", async () => {
    const queue = new GenerationQueue({ concurrency: 1, maxWaitMs: 10_000 });
    const agent = createResponseAgent({ generator: slow(150), queue, options: { timeoutMs: 600 } });
    const blocker = await queue.acquire(9);
    if (!blocker.ok) throw new Error("no slot");
    setTimeout(() => blocker.slot.release(), 900);
    const d = await run(agent);
    // Queued 900 ms with a 600 ms budget: the generation still ran in full.
    expect(d.mode).toBe("generated");
    expect(d.timings.generator_queue_ms!).toBeGreaterThanOrEqual(850);
    expect(agent.timeoutMs).toBeGreaterThan(10_000);
  });

  test("a draft whose wait runs out is drafted without the model and its note says the queue gave up", async () => {
    const queue = new GenerationQueue({ concurrency: 1, maxWaitMs: 80 });
    const agent = createResponseAgent({ generator: slow(10), queue });
    const blocker = await queue.acquire(9);
    const d = await run(agent);
    if (blocker.ok) blocker.slot.release();
    expect(d.mode).toBe("extractive");
    expect(d.note).toContain("the generation queue gave up after waiting");
    expect(d.fallback_reason).toContain("1 draft(s) ahead");
  });

  test("the drafting stage reads a result's urgency from its sentiment output", () => {
    const ev = (sentiment: unknown) => ({ outputs: { sentiment } }) as unknown as ResultEvent;
    expect(urgencyOf(ev({ label: "frustrated", urgency: { level: "high" } }))).toBeGreaterThan(urgencyOf(ev({ label: "neutral", urgency: "high" })));
    expect(urgencyOf(ev({ label: "neutral", urgency: "high" }))).toBeGreaterThan(urgencyOf(ev({ label: "neutral", urgency: { level: "low" } })));
    expect(urgencyOf(ev(undefined))).toBe(draftPriority(null, null));
  });
});
