import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pino from "pino";
import { contextualQuery, isFollowUp } from "../../src/rag/rewrite.ts";
import { openKnowledge, type Knowledge } from "../../src/rag/index.ts";
import { knowledgeAgent, type KnowledgeOutput } from "../../src/agents/knowledge/index.ts";
import type { AgentContext } from "../../src/agents/types.ts";
import type { CustomerMessage } from "../../src/schema/message.ts";
import type { Turn } from "../../src/session/interface.ts";
import { HashEmbedder, tempDir } from "./helpers.ts";

const turn = (text: string, role: Turn["role"] = "customer"): Turn => ({ role, text, at: new Date().toISOString() });
const message = (text: string): CustomerMessage => ({
  id: crypto.randomUUID(),
  source: "chat",
  user: { id: "u1" },
  message: { text, attachments: [] },
  metadata: { received_at: new Date().toISOString(), conversation_id: "c1" },
});
const ctx = (turns: Turn[]): AgentContext => ({
  conversationId: "c1",
  session: { conversationId: "c1", turns, state: {}, updatedAt: null },
  previous: {},
  signal: new AbortController().signal,
  log: pino({ level: "silent" }),
});

describe("multi-turn query rewriting", () => {
  test("follow-ups are detected; self-contained questions are not", () => {
    expect(isFollowUp("and how long does that take?")).toBe(true);
    expect(isFollowUp("what about abroad?")).toBe(true);
    expect(isFollowUp("How long does an international transfer to Germany take?")).toBe(false);
  });

  test("a follow-up is searched with the last self-contained customer turn; agent turns are ignored", () => {
    const turns = [turn("My card was declined at a shop yesterday"), turn("I lost my debit card on the train"), turn("Sorry to hear that! I can help.", "agent")];
    const q = contextualQuery("and how long does that take?", turns);
    expect(q).toEqual({ query: "I lost my debit card on the train and how long does that take?", rewritten: true, context: ["I lost my debit card on the train"] });
    expect(contextualQuery("How do I close my account?", turns).rewritten).toBe(false);
    expect(contextualQuery("and how long does that take?", []).rewritten).toBe(false);
  });
});

describe("knowledge service on the default KB", () => {
  let k: Knowledge;
  let cleanup: () => void;
  let dataDir: string;
  const embedder = new HashEmbedder();

  beforeAll(async () => {
    ({ dir: dataDir, cleanup } = tempDir());
    k = await openKnowledge({ embedder, dataDir, kbDir: "kb/northwind", params: { threshold: 0.2 } });
  });
  afterAll(async () => {
    await k.close();
    cleanup();
  });

  test("ingests the KB at open and a second open does no work", async () => {
    expect(k.startup[0]).toMatchObject({ added: 14, unchanged: 0 });
    expect(k.stats().kb.chunks).toBeGreaterThan(40);
    const before = embedder.texts;
    const again = await openKnowledge({ embedder, dataDir, kbDir: "kb/northwind", params: { threshold: 0.2 } });
    expect(again.startup[0]).toMatchObject({ unchanged: 14, embedded: 0 });
    expect(embedder.texts).toBe(before);
  });

  test("with waitForSync false the service opens at once and `ready` reports the first ingest", async () => {
    const t = tempDir();
    try {
      const bg = await openKnowledge({ embedder: new HashEmbedder(), dataDir: t.dir, kbDir: "kb/northwind", waitForSync: false });
      expect(bg.stats().kb.docs).toBe(0);
      const stats = await bg.ready;
      expect(stats[0]).toMatchObject({ added: 14 });
      expect(bg.stats().kb.docs).toBe(14);
      await bg.close();
    } finally {
      t.cleanup();
    }
  });

  test("hybrid search returns cited passages found by both retrievers", async () => {
    const r = await k.search("How do I get a refund for a direct debit taken in error?");
    expect(r.abstain).toBe(false);
    const top = r.passages[0]!;
    expect(top).toMatchObject({ doc_id: "northwind/payments-direct-debits", section: "Direct Debit Guarantee", source: "northwind/payments-direct-debits.md", url: "https://help.northwind.example/payments/direct-debits" });
    expect(top.retrievers).toEqual(["dense", "bm25"]);
    expect(new Set(r.passages.map((p) => p.doc_id)).size).toBe(r.passages.length);
  });

  test("the agent abstains when nothing in the KB is relevant", async () => {
    const res = await knowledgeAgent(k).run(message("xylophone quantum zebra"), ctx([]));
    expect(res.ok).toBe(true);
    const out = (res as { value: KnowledgeOutput }).value;
    expect(out.abstain).toBe(true);
    expect(out.passages).toEqual([]);
  });

  test("the agent folds the session's previous customer turn into a follow-up question", async () => {
    const turns = [turn("I think my card was stolen, what do I do?"), turn("Please freeze it first.", "agent")];
    const res = await knowledgeAgent(k).run(message("and when will the new one arrive?"), ctx(turns));
    const out = (res as { value: KnowledgeOutput }).value;
    expect(out.rewritten).toBe(true);
    expect(out.query).toContain("stolen");
    expect(out.passages[0]!.doc_id).toBe("northwind/cards-lost-stolen");
    const alone = (await knowledgeAgent(k).run(message("and when will the new one arrive?"), ctx([]))) as { value: KnowledgeOutput };
    expect(alone.value.rewritten).toBe(false);
  });

  test("past tickets are searchable at once, survive a restart, and are validated", async () => {
    await k.addPastTicket({ id: "T-1001", question: "My Xero sync stopped importing invoices", answer: "Reconnect Xero under Settings > Integrations.", conversation_id: "c9", resolved_at: "2025-10-01T10:00:00Z" });
    const r = await k.search("xero sync is not importing my invoices");
    expect(r.tickets[0]).toMatchObject({ collection: "tickets", doc_id: "ticket:T-1001", meta: { ticket_id: "T-1001", conversation_id: "c9" } });
    expect(r.tickets[0]!.text).toContain("Reconnect Xero");
    await expect(k.addPastTicket({ id: "", question: "q", answer: "a", conversation_id: "c", resolved_at: "yesterday" })).rejects.toMatchObject({ code: "invalid_ticket" });
    await k.close();
    const before = embedder.texts;
    const again = await openKnowledge({ embedder, dataDir, kbDir: "kb/northwind", params: { threshold: 0.2 } });
    expect(again.stats().tickets.docs).toBe(1);
    expect(embedder.texts).toBe(before);
    const out = (await knowledgeAgent(again).run(message("xero sync is not importing my invoices"), ctx([]))) as { value: KnowledgeOutput };
    expect(out.value.similar_tickets[0]).toMatchObject({ ticket_id: "T-1001", resolved_at: "2025-10-01T10:00:00Z" });
    // A crash before the coalesced index write: the ticket is replayed from the log at the next open.
    await again.addPastTicket({ id: "T-1002", question: "Webhook signature check fails", answer: "Verify against the raw body.", conversation_id: "c10", resolved_at: "2025-10-02T09:00:00Z" });
    const afterCrash = await openKnowledge({ embedder, dataDir, kbDir: "kb/northwind", params: { threshold: 0.2 } });
    expect(afterCrash.stats().tickets.docs).toBe(2);
    expect((await afterCrash.search("webhook signature fails")).tickets[0]!.doc_id).toBe("ticket:T-1002");
    await afterCrash.close();
    await again.close();
  });
});
