import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import type { ResultEvent } from "../../src/agents/types.ts";
import { results, messages, conversations, deadLetters } from "../../src/db/schema.ts";
import { openPglite, openPostgres, type Store } from "../../src/db/store.ts";
import { parseCustomerMessage, type CustomerMessage } from "../../src/schema/message.ts";
import { describeWith, rand, sampleMessage, services } from "../support/env.ts";

function processed(conversationId: string, text = "hello") {
  const r = parseCustomerMessage(sampleMessage({ message: { text, attachments: [] } }));
  if (!r.ok) throw r.error;
  const message: CustomerMessage = r.value;
  const result: ResultEvent = {
    type: "message.result",
    message_id: message.id,
    conversation_id: conversationId,
    source: message.source,
    user: { id: message.user.id },
    text: message.message.text,
    received_at: message.metadata.received_at,
    processed_at: new Date().toISOString(),
    outputs: { intent: { label: "card_declined", confidence: 0.91 }, sentiment: { label: "negative", urgency: { level: "high" } } },
    failures: [],
    degraded: false,
    timings: { total_ms: 3, workers: {} },
  };
  return { message, conversationId, result };
}

/** The contract both database drivers pass with the same migrations. */
function contract(open: () => Promise<Store>) {
  let store: Store;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store.close();
  });

  test("persists message + result with typed columns, once per message id", async () => {
    const conv = `conv-${rand()}`;
    const a = processed(conv, "first");
    const b = processed(conv, "second");
    const inserted = await store.saveProcessed([a, b]);
    expect(inserted).toEqual(new Set([a.message.id, b.message.id]));
    const again = await store.saveProcessed([a]);
    expect(again.size).toBe(0);
    const row = (await store.db.select().from(results).where(eq(results.messageId, a.message.id)))[0]!;
    expect(row.intent).toBe("card_declined");
    expect(row.intentConfidence).toBeCloseTo(0.91, 5);
    expect(row.sentiment).toBe("negative");
    expect(row.urgency).toBe("high");
    const c = (await store.db.select().from(conversations).where(eq(conversations.id, conv)))[0]!;
    expect(c.messageCount).toBe(2);
    const n = await store.db.select({ n: sql<number>`count(*)::int` }).from(messages).where(eq(messages.conversationId, conv));
    expect(n[0]!.n).toBe(2);
  });

  test("tracks publication so a redelivery re-publishes only what was not published", async () => {
    const p = processed(`conv-${rand()}`);
    await store.saveProcessed([p]);
    expect((await store.existing([p.message.id])).get(p.message.id)).toEqual({ published: false });
    const events = await store.loadEvents([p.message.id]);
    expect(events.get(p.message.id)?.outputs).toEqual(p.result.outputs);
    await store.markPublished([p.message.id]);
    expect((await store.existing([p.message.id])).get(p.message.id)).toEqual({ published: true });
  });

  test("dead letters keep the reason and raw payload", async () => {
    const raw = `{"broken": ${rand()}`;
    await store.saveDeadLetters([{ topic: "t", partition: 0, offset: "7", key: null, reason: "not json", raw }]);
    const rows = await store.db.select().from(deadLetters).where(eq(deadLetters.raw, raw));
    expect(rows[0]?.reason).toBe("not json");
    expect(await store.ping()).toBe(true);
  });
}

describe("Store on PGlite (embedded)", () => contract(() => openPglite(null)));
describeWith("postgres", "Store on PostgreSQL (real)", () => contract(() => openPostgres(services.postgres!)));
