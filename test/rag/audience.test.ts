import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { createResponseAgent, readSignals, type ReplyDraft } from "../../src/agents/response/agent.ts";
import { DEFAULT_POLICY } from "../../src/agents/response/policy.ts";
import type { AgentContext } from "../../src/agents/types.ts";
import { knowledgeOf } from "../../src/dashboard/outputs.ts";
import { ok } from "../../src/errors.ts";
import type { Generator, GenerateRequest } from "../../src/llm/types.ts";
import { openKnowledge, type Knowledge } from "../../src/rag/index.ts";
import { knowledgeAgent, type KnowledgeOutput } from "../../src/agents/knowledge/index.ts";
import { loadPath } from "../../src/rag/sources.ts";
import type { CustomerMessage } from "../../src/schema/message.ts";
import { emptySession } from "../../src/session/interface.ts";
import { Details } from "../../views/conversation.tsx";
import { HashEmbedder, tempDir } from "./helpers.ts";

const message = (text: string): CustomerMessage => ({
  id: crypto.randomUUID(),
  source: "chat",
  user: { id: "u1" },
  message: { text, attachments: [] },
  metadata: { received_at: new Date().toISOString(), conversation_id: "chat:aud" },
});
const ctx = (previous: Record<string, unknown> = {}): AgentContext => ({
  conversationId: "chat:aud",
  session: { ...emptySession("chat:aud"), turns: [] },
  previous,
  signal: new AbortController().signal,
  log: pino({ level: "silent" }),
});

const CUSTOMER = `---\ntitle: Lost card\n---\n# Lost card\n\nFreeze a lost debit card in the app under Cards, Freeze card. A replacement debit card arrives in five working days.\n`;
const INTERNAL = `---\ntitle: Refund procedure for agents\naudience: internal\n---\n# Refund procedure for agents\n\nAgents verify the customer identity with the account number, then approve the refund of a duplicate merchant charge in the back office tool. Escalate refund requests above 500 pounds to a supervisor.\n`;

/** A generator that quotes the first passage it was given, citing it; records its prompts. */
function quoting(): Generator & { calls: GenerateRequest[] } {
  const calls: GenerateRequest[] = [];
  return {
    kind: "ollama",
    model: "fake",
    calls,
    async generate(req) {
      calls.push(req);
      const text = req.messages.at(-1)!.content.includes('<passage id="P1"') ? "Here is what to do [P1]." : "Could you tell me more about what happened?";
      return ok({ text, finish: "stop", generator: "ollama", model: "fake", promptTokens: 1, completionTokens: 1, queueMs: 0, ttftMs: 1, tokensPerS: 1, totalMs: 1, attempts: 1 });
    },
    ping: async () => true,
    close: async () => {},
  };
}

describe("internal vs customer-facing knowledge", () => {
  let k: Knowledge;
  let cleanup: () => void;
  let kbDir: string;
  beforeAll(async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    kbDir = join(t.dir, "kb");
    mkdirSync(kbDir);
    writeFileSync(join(kbDir, "lost-card.md"), CUSTOMER);
    writeFileSync(join(kbDir, "refunds-internal.md"), INTERNAL);
    k = await openKnowledge({ embedder: new HashEmbedder(), dataDir: join(t.dir, "index"), kbDir, params: { threshold: 0.5 } });
  });
  afterAll(async () => {
    await k.close();
    cleanup();
  });
  const run = async (text: string) => ((await knowledgeAgent(k).run(message(text), ctx())) as { ok: true; value: KnowledgeOutput }).value;

  test("front matter audience: internal is read; any other value than internal/customer is refused", () => {
    const docs = loadPath(kbDir)[0]!.docs;
    expect(docs.find((d) => d.id.endsWith("refunds-internal"))!.meta).toEqual({ audience: "internal" });
    expect(docs.find((d) => d.id.endsWith("lost-card"))!.meta).toBeUndefined();
    writeFileSync(join(kbDir, "bad.md"), "---\naudience: staff\n---\n# Bad\n\ntext\n");
    expect(() => loadPath(kbDir)).toThrow(/audience must be/);
    writeFileSync(join(kbDir, "bad.md"), "---\naudience: customer\n---\n# Fine\n\ntext\n");
  });

  test("a question only internal guidance matches: abstains with the reason, guidance listed apart, nothing citable", async () => {
    const out = await run("How do agents approve the refund of a duplicate merchant charge in the back office tool?");
    expect(out.guidance.map((p) => p.title)).toEqual(["Refund procedure for agents"]);
    expect(out.guidance[0]!.audience).toBe("internal");
    expect(out.passages.some((p) => p.audience === "internal" || p.title.includes("Refund procedure"))).toBe(false);
    expect(out.abstain).toBe(true);
    expect(out.abstain_reason).toContain("only internal guidance");
  });

  test("a customer question gets customer passages; internal text never enters the citable list", async () => {
    const out = await run("I lost my debit card, how do I freeze it?");
    expect(out.abstain).toBe(false);
    expect(out.passages[0]!.title).toBe("Lost card");
    expect(out.passages.every((p) => p.audience === "customer")).toBe(true);
  });

  test("the reply prompt, the extractive draft and the citations never carry internal text; internal-only support is never auto-sent", async () => {
    const out = await run("How do agents approve the refund of a duplicate merchant charge in the back office tool?");
    // Even if a producer slipped internal guidance into the citable list, the response agent drops it.
    const leaked = { ...out, abstain: false, passages: [...out.guidance] };
    expect(readSignals({ knowledge: leaked }).passages).toEqual([]);
    expect(readSignals({ knowledge: leaked }).abstained).toBe(true);
    const previous = { intent: { label: "refund_request", confidence: 0.99 }, sentiment: { label: "neutral", urgency: { level: "low" } } };
    const policy = { ...DEFAULT_POLICY, enabled: true, intents: ["refund_request"] };
    for (const knowledge of [out, leaked]) {
      const gen = quoting();
      const r = await createResponseAgent({ generator: gen, policy }).run(message("How do agents approve a refund?"), ctx({ ...previous, knowledge }));
      const d = (r as { ok: true; value: ReplyDraft }).value;
      expect(d.status).toBe("draft");
      expect(d.citations).toEqual([]);
      expect(d.text).not.toContain("back office");
      for (const c of gen.calls) expect(c.messages.map((m) => m.content).join("\n")).not.toContain("back office");
    }
    // The extractive composer (no generator) gets only customer passages too.
    const mixed = { ...(await run("I lost my debit card, how do I freeze it?")), guidance: out.guidance };
    const r = await createResponseAgent({ generator: null, policy }).run(message("I lost my debit card, how do I freeze it?"), ctx({ ...previous, knowledge: mixed }));
    const d = (r as { ok: true; value: ReplyDraft }).value;
    expect(d.text).not.toContain("back office");
    expect(d.citations.every((c) => !c.chunk_id.includes("refunds-internal"))).toBe(true);
  });

  test("the workspace shows internal passages under 'Guidance (internal)' and the abstain reason", async () => {
    const out = await run("How do agents approve the refund of a duplicate merchant charge in the back office tool?");
    const view = knowledgeOf({ knowledge: out })!;
    expect(view.guidance).toHaveLength(1);
    expect(view.passages).toHaveLength(0);
    const html = String(
      Details({
        e: { id: "m1", conversationId: "chat:aud", channel: "chat", customerId: "u1", customerName: null, text: "q", receivedAt: new Date(), outputs: { knowledge: out }, failures: [], degraded: false, decision: null },
        corrections: [],
        intents: [],
      }),
    );
    expect(html).toContain("Guidance (internal)");
    expect(html).toContain("Refund procedure for agents");
    expect(html).toContain("only internal guidance matches");
  });

  test("the default KB folder is the bank's help only: the ABCD example is not loaded", () => {
    const ids = loadPath("kb").flatMap((o) => o.docs.map((d) => d.id));
    expect(ids.some((id) => id.startsWith("kb/northwind/"))).toBe(true);
    expect(ids.some((id) => /abcd/i.test(id))).toBe(false);
    const abcd = loadPath("examples/kb/abcd")[0]!.docs;
    expect(abcd.length).toBe(10);
    expect(abcd.every((d) => d.meta?.audience === "internal")).toBe(true);
  });
});

describe("query preparation in the knowledge agent", () => {
  test("searches the customer's words; a greeting-only message abstains without searching", async () => {
    const seen: string[] = [];
    const { createKnowledgeAgent } = await import("../../src/agents/knowledge/index.ts");
    const agent = createKnowledgeAgent({
      search: async (q) => {
        seen.push(q);
        return { query: q, rewritten: false, abstain: true, abstain_reason: "x", threshold: 0.6, answerability: null, passages: [], guidance: [], tickets: [], timings_ms: { embed: 0, search: 0 } };
      },
    });
    const raw = "Hi,\n\nHow do I freeze my card?\n\nBest regards,\nEmma Dubois\nACME GmbH | +49 30 1234567";
    const m = message(raw);
    const r = (await agent.run(m, ctx())) as { ok: true; value: KnowledgeOutput };
    expect(seen).toEqual(["How do I freeze my card?"]);
    expect(r.value.question).toBe("How do I freeze my card?");
    expect(m.message.text).toBe(raw);
    const g = (await agent.run(message("Hello!"), ctx())) as { ok: true; value: KnowledgeOutput };
    expect(seen).toHaveLength(1);
    expect(g.value.abstain).toBe(true);
    expect(g.value.abstain_reason).toContain("no question");
  });
});
