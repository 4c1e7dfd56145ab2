import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, inArray } from "drizzle-orm";
import { DraftingStage } from "../../src/agents/drafting.ts";
import { ReplyApprovals } from "../../src/agents/response/approval.ts";
import type { Agent, ResultEvent } from "../../src/agents/types.ts";
import type { EventBus, InRecord, OutRecord } from "../../src/bus/interface.ts";
import { KafkaBus } from "../../src/bus/kafka.ts";
import { MemoryBus } from "../../src/bus/memory.ts";
import { ReplyService } from "../../src/channels/replies/service.ts";
import { ReplySweeper } from "../../src/channels/replies/sweeper.ts";
import type { ReplyDeliverer } from "../../src/channels/replies/types.ts";
import { ChannelStore, type ReplyRow } from "../../src/channels/store.ts";
import { outbox as outboxTable, outboundReplies, results } from "../../src/db/schema.ts";
import { openPglite, openPostgres, type Store } from "../../src/db/store.ts";
import { AppError, ok } from "../../src/errors.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { Outbox } from "../../src/outbox/outbox.ts";
import { MemorySessionStore } from "../../src/session/memory.ts";
import { describeWith, rand, services, testConfig, testLog, waitFor } from "../support/env.ts";

/** A bus whose publishes fail while `down` is set (the broker is gone after the draft was stored). */
class FlakyBus implements EventBus {
  down = false;
  /** Topics that refuse every record (deleted or unauthorised), while the others work. */
  readonly refusing = new Set<string>();
  readonly kind: string;
  constructor(readonly inner: EventBus) {
    this.kind = inner.kind;
  }
  start(topics: string[]) {
    return this.inner.start(topics);
  }
  async publish(topic: string, records: OutRecord[]) {
    if (this.down) throw new AppError("bus_unavailable", "broker down", { status: 503, retriable: true });
    if (this.refusing.has(topic)) throw new AppError("bus_unavailable", `topic ${topic} refuses records`, { status: 503, retriable: true });
    return this.inner.publish(topic, records);
  }
  subscribe(...a: Parameters<EventBus["subscribe"]>) {
    return this.inner.subscribe(...a);
  }
  ping() {
    return this.inner.ping();
  }
  stop() {
    return this.inner.stop();
  }
}

/** An email "channel" that counts every delivery per message. */
class CountingDeliverer implements ReplyDeliverer {
  readonly channel = "email" as const;
  readonly sent = new Map<string, number>();
  recipient() {
    return { to: "customer@example.test" };
  }
  async deliver(r: ReplyRow) {
    await Bun.sleep(5);
    this.sent.set(r.messageId!, (this.sent.get(r.messageId!) ?? 0) + 1);
    return { externalId: `ext-${r.id}` };
  }
}

const replyOpts = { maxAttempts: 3, backoff: { baseMs: 10, maxMs: 100 }, retryIntervalMs: 60_000, staleSendingMs: 600_000 };

/** Persists one email message and its triage result, as the master would. */
async function persisted(store: Store, conversationId: string): Promise<ResultEvent> {
  const id = crypto.randomUUID();
  const now = new Date().toISOString();
  const result: ResultEvent = {
    type: "message.result",
    message_id: id,
    conversation_id: conversationId,
    source: "email",
    user: { id: "cust-1" },
    text: "where is my refund?",
    received_at: now,
    processed_at: now,
    outputs: { intent: { label: "refund_status", confidence: 0.97 } },
    failures: [],
    degraded: false,
    timings: { total_ms: 3, workers: {} },
  };
  await store.saveProcessed([
    {
      message: { id, source: "email", user: { id: "cust-1", email: "customer@example.test" }, message: { text: result.text, attachments: [] }, metadata: { received_at: now, conversation_id: conversationId } } as never,
      conversationId,
      result,
    },
  ]);
  return result;
}

function suite(open: () => Promise<{ store: Store; bus: EventBus; topic: string; close: () => Promise<void> }>) {
  let store: Store;
  let bus: FlakyBus;
  let topic: string;
  let close: () => Promise<void>;
  const seen: ResultEvent[] = [];
  const autoReply: Agent = { name: "reply", run: async () => ok({ text: "Your refund left today.", status: "auto_sent" }) };

  beforeAll(async () => {
    const o = await open();
    store = o.store;
    topic = o.topic;
    close = o.close;
    bus = new FlakyBus(o.bus);
    await bus.subscribe({ groupId: `observer-${rand()}`, topics: [topic], handler: async (rs: InRecord[]) => void seen.push(...rs.map((r) => JSON.parse(r.value) as ResultEvent)) });
  }, 60_000);
  afterAll(async () => {
    await close();
  });

  const stage = (outbox: Outbox) =>
    new DraftingStage({ bus, store, sessions: new MemorySessionStore({ ttlSeconds: 600, maxTurns: 10 }), agents: [autoReply], metrics: new Metrics(false), log: testLog, groupId: `d-${rand()}`, responsesTopic: topic, timeoutMs: 5000, retries: 0, outbox });

  test("a publish that fails after the draft is stored is published later by the relay; redelivery does not redraft", async () => {
    const outbox = new Outbox(store.db, bus, { owner: `relay-${rand()}`, intervalMs: 50, delayMs: 0 }, testLog);
    const ev = await persisted(store, `c-${rand()}`);
    bus.down = true;
    const s = stage(outbox);
    await s.handleBatch([{ topic, partition: 0, offset: "0", timestamp: Date.now(), key: ev.conversation_id, value: JSON.stringify(ev) }]);
    // The draft is stored and its event waits in the outbox: nothing reached the bus.
    const row = (await store.db.select().from(results).where(eq(results.messageId, ev.message_id)))[0]!;
    expect((row.outputs as { reply?: { status: string } }).reply?.status).toBe("auto_sent");
    const pending = await store.db.select().from(outboxTable).where(eq(outboxTable.replyMessageId, ev.message_id));
    expect(pending).toHaveLength(1);
    expect(pending[0]!.publishedAt).toBeNull();
    // Redelivery of the fresh result sees the stored draft and neither drafts nor publishes again.
    await s.handleBatch([{ topic, partition: 0, offset: "0", timestamp: Date.now(), key: ev.conversation_id, value: JSON.stringify(ev) }]);
    expect(await store.db.select().from(outboxTable).where(eq(outboxTable.replyMessageId, ev.message_id))).toHaveLength(1);
    bus.down = false;
    outbox.start();
    try {
      const published = await waitFor(() => seen.find((e) => e.message_id === ev.message_id && e.revision === 1), 20_000, "relayed draft");
      expect((published.outputs.reply as { status: string }).status).toBe("auto_sent");
      await waitFor(async () => (await store.db.select().from(outboxTable).where(eq(outboxTable.replyMessageId, ev.message_id)))[0]!.publishedAt, 5000, "row marked published");
    } finally {
      await outbox.stop();
    }
  }, 60_000);

  test("rows for a topic that refuses records do not hold back other topics' rows (no head-of-line blocking)", async () => {
    const outbox = new Outbox(store.db, bus, { owner: `relay-${rand()}`, intervalMs: 50, delayMs: 0, retryBackoffMs: 60_000 }, testLog);
    const dead = `dead-${rand()}`;
    bus.refusing.add(dead);
    const id = crypto.randomUUID();
    try {
      const ids = await store.db.transaction(async (tx) => [
        ...(await outbox.enqueue(tx, [{ topic: dead, record: { key: "k", value: JSON.stringify({ type: "poison" }) } }])),
        ...(await outbox.enqueue(tx, [{ topic, record: { key: "k", value: JSON.stringify({ type: "message.result", message_id: id, revision: 7 }), headers: { "message-id": id } } }])),
      ]);
      expect(await outbox.flush(ids)).toBe(1);
      await waitFor(() => seen.find((e) => e.message_id === id), 20_000, "the healthy topic's row");
      const rows = await store.db.select().from(outboxTable).where(inArray(outboxTable.id, ids));
      const byTopic = new Map(rows.map((r) => [r.topic, r]));
      expect(byTopic.get(topic)!.publishedAt).not.toBeNull();
      // The refused row is left for later, backed off so the next claims skip it.
      expect(byTopic.get(dead)!.publishedAt).toBeNull();
      expect(byTopic.get(dead)!.claimedUntil!.getTime()).toBeGreaterThan(Date.now() + 30_000);
      await store.db.delete(outboxTable).where(eq(outboxTable.topic, dead));
    } finally {
      bus.refusing.delete(dead);
    }
  }, 60_000);

  test("an auto-sent reply that no hub saw is sent by the sweeper, exactly once over repeated sweeps", async () => {
    const outbox = new Outbox(store.db, bus, { owner: `relay-${rand()}`, delayMs: 0 }, testLog);
    const ev = await persisted(store, `c-${rand()}`);
    await stage(outbox).handleBatch([{ topic, partition: 0, offset: "0", timestamp: Date.now(), key: ev.conversation_id, value: JSON.stringify(ev) }]);
    const email = new CountingDeliverer();
    const replies = new ReplyService(new ChannelStore(store.db), [email], replyOpts, testLog);
    const sweeper = new ReplySweeper(outbox, replies, { graceMs: 0, intervalMs: 60_000, batchSize: 1000, autoSend: true }, testLog);
    // Within the grace period the live path owns the reply: a sweeper with a long grace leaves it alone.
    await new ReplySweeper(outbox, replies, { graceMs: 600_000, intervalMs: 60_000, batchSize: 1000, autoSend: true }, testLog).sweep();
    expect(email.sent.get(ev.message_id)).toBeUndefined();
    await sweeper.sweep();
    expect(email.sent.get(ev.message_id)).toBe(1);
    await sweeper.sweep();
    // A late hub seeing the event (replayed) does not send it again either.
    replies.onResultEvent({ ...ev, revision: 1, outputs: { ...ev.outputs, reply: { text: "Your refund left today.", status: "auto_sent" } } });
    await Bun.sleep(100);
    expect(email.sent.get(ev.message_id)).toBe(1);
    const rows = await store.db.select().from(outboundReplies).where(eq(outboundReplies.messageId, ev.message_id));
    expect(rows.map((r) => [r.status, r.approvedBy])).toEqual([["sent", "auto"]]);
    const done = (await store.db.select().from(outboxTable).where(eq(outboxTable.replyMessageId, ev.message_id)))[0]!;
    expect(done.replyDoneAt).not.toBeNull();
  }, 60_000);

  test("two sweepers racing (two replicas, expired leases) send each reply once", async () => {
    const ids: string[] = [];
    const writer = new Outbox(store.db, bus, { owner: `w-${rand()}`, delayMs: 0 }, testLog);
    for (let i = 0; i < 6; i++) {
      const ev = await persisted(store, `c-${rand()}`);
      await stage(writer).handleBatch([{ topic, partition: 0, offset: "0", timestamp: Date.now(), key: ev.conversation_id, value: JSON.stringify(ev) }]);
      ids.push(ev.message_id);
    }
    const email = new CountingDeliverer();
    // Each replica has its own outbox owner and reply service; a 1 ms lease means the claim alone cannot keep
    // them apart, so the reply log's idempotency key has to.
    const replica = (leaseMs: number) =>
      new ReplySweeper(new Outbox(store.db, bus, { owner: `r-${rand()}`, leaseMs }, testLog), new ReplyService(new ChannelStore(store.db), [email], replyOpts, testLog), { graceMs: 0, intervalMs: 60_000, batchSize: 1000, autoSend: true }, testLog);
    await Promise.all([replica(30_000).sweep(), replica(30_000).sweep()]);
    await Promise.all([replica(1).sweep(), replica(1).sweep(), replica(1).sweep()]);
    for (const id of ids) expect(email.sent.get(id)).toBe(1);
  }, 60_000);

  test("an approval whose hand-off fails (process gone) is sent by the sweeper once", async () => {
    const outbox = new Outbox(store.db, bus, { owner: `relay-${rand()}`, delayMs: 0 }, testLog);
    const ev = await persisted(store, `c-${rand()}`);
    const draft: Agent = { name: "reply", run: async () => ok({ text: "Let me check your refund.", status: "draft" }) };
    const s = new DraftingStage({ bus, store, sessions: new MemorySessionStore({ ttlSeconds: 600, maxTurns: 10 }), agents: [draft], metrics: new Metrics(false), log: testLog, groupId: `d-${rand()}`, responsesTopic: topic, timeoutMs: 5000, retries: 0, outbox });
    await s.handleBatch([{ topic, partition: 0, offset: "0", timestamp: Date.now(), key: ev.conversation_id, value: JSON.stringify(ev) }]);
    const dead = { send: async () => Promise.reject(new AppError("crash", "process stopped", { retriable: true })) };
    const approvals = new ReplyApprovals({ store, bus, responsesTopic: topic, handoff: dead, log: testLog, outbox });
    await approvals.decide(ev.message_id, "edit", { label: "lead@example.test" }, { text: "Your refund left today, sorry for the wait." });
    const email = new CountingDeliverer();
    const replies = new ReplyService(new ChannelStore(store.db), [email], replyOpts, testLog);
    await new ReplySweeper(outbox, replies, { graceMs: 0, intervalMs: 60_000, batchSize: 1000, autoSend: true }, testLog).sweep();
    await new ReplySweeper(outbox, replies, { graceMs: 0, intervalMs: 60_000, batchSize: 1000, autoSend: true }, testLog).sweep();
    expect(email.sent.get(ev.message_id)).toBe(1);
    const rows = await store.db.select().from(outboundReplies).where(eq(outboundReplies.messageId, ev.message_id));
    expect(rows.map((r) => [r.text, r.approvedBy])).toEqual([["Your refund left today, sorry for the wait.", "lead@example.test"]]);
    // The decision event reached the bus too.
    await waitFor(() => seen.find((e) => e.message_id === ev.message_id && (e.outputs.reply as { review?: unknown }).review), 20_000, "decision event");
  }, 60_000);

  test("a rejected draft leaves nothing for the sweeper", async () => {
    const outbox = new Outbox(store.db, bus, { owner: `relay-${rand()}`, delayMs: 0 }, testLog);
    const ev = await persisted(store, `c-${rand()}`);
    const draft: Agent = { name: "reply", run: async () => ok({ text: "Maybe.", status: "draft" }) };
    const s = new DraftingStage({ bus, store, sessions: new MemorySessionStore({ ttlSeconds: 600, maxTurns: 10 }), agents: [draft], metrics: new Metrics(false), log: testLog, groupId: `d-${rand()}`, responsesTopic: topic, timeoutMs: 5000, retries: 0, outbox });
    await s.handleBatch([{ topic, partition: 0, offset: "0", timestamp: Date.now(), key: ev.conversation_id, value: JSON.stringify(ev) }]);
    await new ReplyApprovals({ store, bus, responsesTopic: topic, handoff: { send: async () => ({ id: "x", status: "sent" }) }, log: testLog, outbox }).decide(ev.message_id, "reject", { label: "lead" }, { reason: "wrong" });
    const rows = await store.db.select().from(outboxTable).where(eq(outboxTable.replyMessageId, ev.message_id));
    expect(rows).toHaveLength(0);
  }, 60_000);

  test("prune deletes published rows whose reply is settled, and keeps unpublished or unsent ones", async () => {
    const outbox = new Outbox(store.db, bus, { owner: `p-${rand()}`, delayMs: 0, keepMs: 0 }, testLog);
    const rec = (n: string) => ({ topic, record: { key: `k-${n}`, value: JSON.stringify({ type: "noise", n }) } });
    const [plain] = await outbox.enqueue(store.db, [rec("plain")]);
    const [reply] = await outbox.enqueue(store.db, [{ ...rec("reply"), replyMessageId: crypto.randomUUID() }]);
    await outbox.flush([plain!, reply!]);
    bus.down = true;
    const [unpublished] = await outbox.enqueue(store.db, [rec("unpublished")]);
    await outbox.flush([unpublished!]);
    bus.down = false;
    await Bun.sleep(20);
    await outbox.prune();
    const left = async () => new Set((await store.db.select({ id: outboxTable.id }).from(outboxTable)).map((r) => r.id));
    let ids = await left();
    expect([ids.has(plain!), ids.has(reply!), ids.has(unpublished!)]).toEqual([false, true, true]);
    await outbox.replyDone({ ids: [reply!] });
    await outbox.prune();
    ids = await left();
    expect([ids.has(reply!), ids.has(unpublished!)]).toEqual([false, true]);
    await outbox.flush([unpublished!]);
  }, 60_000);
}

describe("outbox and reply sweeper (PGlite, in-process bus)", () => {
  suite(async () => {
    const store = await openPglite(null);
    const bus = new MemoryBus(2, 100, 10);
    const topic = "out";
    await bus.start([topic]);
    return { store, bus, topic, close: async () => (await bus.stop(), await store.close()) };
  });
});

describeWith("kafka", "outbox and reply sweeper (PostgreSQL + Kafka)", () => {
  suite(async () => {
    const id = rand();
    const config = testConfig({ KAFKA_BROKERS: services.kafka, KAFKA_PARTITIONS: "2", KAFKA_CLIENT_ID: `outbox-${id}` });
    const store = await openPostgres(services.postgres!);
    const bus = new KafkaBus(config.kafka!, testLog);
    const topic = `re-${id}`;
    await bus.start([topic]);
    return { store, bus, topic, close: async () => (await bus.stop(), await store.close()) };
  });
});

describe("result hub (consumers of an at-least-once topic)", () => {
  test("a repeated event is dispatched once; a new revision or a decision on the same revision still is", async () => {
    const { ResultHub } = await import("../../src/realtime/hub.ts");
    const { reviewOf } = await import("../../src/schema/events.ts");
    const hub = new ResultHub(new MemoryBus(), "out", "hub", testLog);
    const got: string[] = [];
    hub.onAny((e) => got.push(e.type === "message.result" ? `${e.revision ?? 0}:${reviewOf(e.outputs)?.action ?? ""}` : e.type));
    const ev = { type: "message.result", message_id: crypto.randomUUID(), conversation_id: "c", outputs: {}, failures: [], timings: { total_ms: 1, workers: {} } } as unknown as ResultEvent;
    hub.dispatch(ev);
    hub.dispatch({ ...ev });
    const drafted = { ...ev, revision: 1, outputs: { reply: { text: "x", status: "draft" } } };
    hub.dispatch(drafted);
    hub.dispatch({ ...drafted });
    hub.dispatch({ ...drafted, outputs: { reply: { text: "x", status: "approved", review: { action: "approved", by: "ada@example.com", at: new Date().toISOString() } } } });
    expect(got).toEqual(["0:", "1:", "1:approved"]);
  });
});
