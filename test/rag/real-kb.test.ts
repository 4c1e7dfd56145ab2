import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pino from "pino";
import { loadEmbedder, type Embedder } from "../../src/ml/index.ts";
import { openKnowledge, type Knowledge } from "../../src/rag/index.ts";
import { knowledgeAgent, type KnowledgeOutput } from "../../src/agents/knowledge/index.ts";
import type { AgentContext } from "../../src/agents/types.ts";
import type { CustomerMessage } from "../../src/schema/message.ts";
import type { Turn } from "../../src/session/interface.ts";
import { tempDir } from "./helpers.ts";

// The shipped encoder on the shipped default KB, with the shipped (dev-tuned) threshold.
const message = (text: string): CustomerMessage => ({
  id: crypto.randomUUID(),
  source: "chat",
  user: { id: "u1" },
  message: { text, attachments: [] },
  metadata: { received_at: new Date().toISOString() },
});
const ctx = (turns: Turn[]): AgentContext => ({
  conversationId: "c1",
  session: { conversationId: "c1", turns, state: {}, updatedAt: null },
  previous: {},
  signal: new AbortController().signal,
  log: pino({ level: "silent" }),
});
const run = async (k: Knowledge, text: string, turns: Turn[] = []) => ((await knowledgeAgent(k).run(message(text), ctx(turns))) as { ok: true; value: KnowledgeOutput }).value;

describe("knowledge agent with the real encoder on kb/northwind", () => {
  let embedder: Embedder;
  let k: Knowledge;
  let cleanup: () => void;

  beforeAll(async () => {
    embedder = await loadEmbedder({ modelsDir: "models" });
    const t = tempDir();
    cleanup = t.cleanup;
    k = await openKnowledge({ embedder, dataDir: t.dir, kbDir: "kb/northwind" });
  }, 120_000);
  afterAll(async () => {
    await k.close();
    await embedder.close();
    cleanup();
  });

  test("answers paraphrased questions from the right page and section", async () => {
    const cases: [string, string, string][] = [
      ["someone nicked my debit card, what should I do", "northwind/cards-lost-stolen", ""],
      ["how many days until a chargeback is settled?", "northwind/cards-disputes", "How long does a chargeback take?"],
      ["can I get a copy of all the personal information you store about me", "northwind/privacy-data", "Get a copy of your data"],
      ["my webhook endpoint was down, will you resend the events?", "northwind/business-api", "Webhooks"],
    ];
    for (const [q, doc, section] of cases) {
      const out = await run(k, q);
      expect(out.abstain).toBe(false);
      expect(out.passages[0]!.doc_id).toBe(doc);
      if (section) expect(out.passages[0]!.section).toBe(section);
      expect(out.passages[0]!.score).toBeGreaterThanOrEqual(out.threshold);
    }
  });

  test("abstains on questions the bank's KB cannot answer", async () => {
    for (const q of ["What's the weather going to be like in Lisbon tomorrow?", "Can you recommend a good recipe for vegetarian lasagne?"]) {
      const out = await run(k, q);
      expect(out.abstain).toBe(true);
      expect(out.passages).toEqual([]);
    }
  });

  test("a follow-up uses the previous customer turn from the session", async () => {
    const turns: Turn[] = [
      { role: "customer", text: "I want to make an international transfer to my landlord in Germany", at: "2025-10-01T10:00:00Z" },
      { role: "agent", text: "Sure, I can help with that.", at: "2025-10-01T10:00:05Z" },
    ];
    const out = await run(k, "and how long will it take to arrive?", turns);
    expect(out.rewritten).toBe(true);
    expect(out.passages[0]!.doc_id).toBe("northwind/payments-transfers");
  });

  test("cites a similar past ticket with its approved reply", async () => {
    await k.addPastTicket({
      id: "T-77",
      question: "The app keeps saying my selfie does not match my passport when I sign up",
      answer: "Retake the selfie in daylight without glasses; if it still fails we review it manually within 2 working days.",
      conversation_id: "conv-77",
      resolved_at: "2025-09-30T16:20:00Z",
    });
    const out = await run(k, "identity check fails because the selfie doesn't match my ID");
    expect(out.similar_tickets[0]).toMatchObject({ ticket_id: "T-77", collection: "tickets" });
  });
});
