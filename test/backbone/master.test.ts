import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { MasterAgent, runWorker } from "../../src/agents/master.ts";
import type { Agent, ResultEvent } from "../../src/agents/types.ts";
import type { InRecord } from "../../src/bus/interface.ts";
import { MemoryBus } from "../../src/bus/memory.ts";
import { deadLetters, results } from "../../src/db/schema.ts";
import { openPglite, type Store } from "../../src/db/store.ts";
import { AppError, err, ok } from "../../src/errors.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { emptySession } from "../../src/session/interface.ts";
import { MemorySessionStore } from "../../src/session/memory.ts";
import { parseCustomerMessage } from "../../src/schema/message.ts";
import { rand, sampleMessage, testLog } from "../support/env.ts";

const topics = { messages: "in", responses: "out", dlq: "in.dlq" };
const rec = (value: unknown, offset = 0): InRecord => ({ topic: "in", partition: 0, offset: String(offset), timestamp: Date.now(), key: "k", value: typeof value === "string" ? value : JSON.stringify(value) });

describe("runWorker", () => {
  const msg = (() => {
    const r = parseCustomerMessage(sampleMessage());
    if (!r.ok) throw r.error;
    return r.value;
  })();
  const ctx = { conversationId: "c", session: emptySession("c"), previous: {}, log: testLog };

  test("retries retriable failures, then succeeds", async () => {
    let n = 0;
    const a: Agent = { name: "flaky", run: async () => (++n < 3 ? err(new AppError("busy", "try again", { retriable: true })) : ok("done")) };
    const r = await runWorker(a, msg, ctx, 1000, 2);
    expect(r.ok && r.value).toBe("done");
    expect(r.ok && r.attempts).toBe(3);
  });

  test("does not retry non-retriable failures", async () => {
    let n = 0;
    const a: Agent = { name: "bad", run: async () => (n++, err(new AppError("bad_input", "no", { retriable: false }))) };
    const r = await runWorker(a, msg, ctx, 1000, 5);
    expect(r.ok).toBe(false);
    expect(n).toBe(1);
    if (!r.ok) expect(r.failure).toEqual({ worker: "bad", code: "bad_input", message: "no", attempts: 1 });
  });

  test("times out a slow worker and aborts its signal", async () => {
    let aborted = false;
    const a: Agent = {
      name: "slow",
      run: (_m, c) =>
        new Promise((resolve) => {
          c.signal.addEventListener("abort", () => (aborted = true));
          setTimeout(() => resolve(ok(1)), 5000);
        }),
    };
    const r = await runWorker(a, msg, ctx, 50, 0);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.failure.code).toBe("worker_timeout");
    expect(aborted).toBe(true);
  });

  test("a thrown exception becomes a failure, not a crash", async () => {
    const a: Agent = { name: "throws", run: async () => { throw new TypeError("boom"); } };
    const r = await runWorker(a, msg, ctx, 1000, 0);
    expect(!r.ok && r.failure.code).toBe("worker_crashed");
  });
});

describe("MasterAgent (embedded bus, PGlite, memory sessions)", () => {
  let store: Store;
  const bus = new MemoryBus(2, 100, 10);
  const sessions = new MemorySessionStore({ ttlSeconds: 600, maxTurns: 10 });
  const published: ResultEvent[] = [];
  const dlq: Record<string, unknown>[] = [];

  beforeAll(async () => {
    store = await openPglite(null);
    await bus.start(Object.values(topics));
    await bus.subscribe({ groupId: "obs", topics: ["out"], handler: async (rs) => void published.push(...rs.map((r) => JSON.parse(r.value))) });
    await bus.subscribe({ groupId: "obs", topics: ["in.dlq"], handler: async (rs) => void dlq.push(...rs.map((r) => JSON.parse(r.value))) });
  });
  afterAll(async () => {
    await bus.stop();
    await store.close();
  });

  const master = (agents: Agent[]) =>
    new MasterAgent({ bus, store, sessions, agents, metrics: new Metrics(false), log: testLog, groupId: `g-${rand()}`, topics, limits: { maxTextChars: 1000, maxAttachments: 2 }, workerTimeoutMs: 200, workerRetries: 1, concurrency: 4 });

  test("runs workers in parallel by stage, later stages see earlier outputs, a failing worker degrades the result", async () => {
    const order: string[] = [];
    const agents: Agent[] = [
      { name: "intent", run: async () => (order.push("intent"), ok({ label: "lost_card", confidence: 0.8 })) },
      { name: "broken", run: async () => err(new AppError("model_missing", "no model file", { retriable: false })) },
      { name: "reply", stage: 1, run: async (_m, c) => (order.push("reply"), ok({ saw: (c.previous.intent as { label: string }).label })) },
    ];
    const m = sampleMessage({ metadata: { received_at: new Date().toISOString(), conversation_id: `conv-${rand()}` } });
    await master(agents).handleBatch([rec(m)]);
    const ev = await (async () => {
      for (let i = 0; i < 100 && !published.find((p) => p.message_id === m.id); i++) await Bun.sleep(10);
      return published.find((p) => p.message_id === m.id)!;
    })();
    expect(order).toEqual(["intent", "reply"]);
    expect(ev.outputs.reply).toEqual({ saw: "lost_card" });
    expect(ev.degraded).toBe(true);
    expect(ev.failures).toEqual([{ worker: "broken", code: "model_missing", message: "no model file", attempts: 1 }]);
    const row = (await store.db.select().from(results).where(eq(results.messageId, m.id)))[0]!;
    expect(row.intent).toBe("lost_card");
    expect(row.degraded).toBe(1);
  });

  test("invalid records go to the DLQ with the reason and raw payload; valid ones in the batch still go through", async () => {
    const good = sampleMessage();
    const bad = sampleMessage({ source: "fax" });
    await master([]).handleBatch([rec("{oops", 1), rec(bad, 2), rec(good, 3)]);
    for (let i = 0; i < 100 && dlq.length < 2; i++) await Bun.sleep(10);
    expect(dlq.map((d) => d.code).sort()).toEqual(["invalid_json", "invalid_message"]);
    const inv = dlq.find((d) => d.code === "invalid_message")!;
    expect(String(inv.reason)).toContain("/source");
    expect(inv.raw).toBe(JSON.stringify(bad));
    const rows = await store.db.select().from(deadLetters).where(eq(deadLetters.raw, "{oops"));
    expect(rows.length).toBe(1);
    expect((await store.existing([good.id])).has(good.id)).toBe(true);
  });

  test("redelivery of a processed message creates no duplicate row and no duplicate event", async () => {
    const m = sampleMessage();
    let runs = 0;
    const agent: Agent = { name: "count", run: async () => ok(++runs) };
    const mm = master([agent]);
    await mm.handleBatch([rec(m)]);
    await mm.handleBatch([rec(m), rec(m)]);
    await Bun.sleep(100);
    expect(runs).toBe(1);
    expect(published.filter((p) => p.message_id === m.id).length).toBe(1);
    const n = await store.db.select({ n: sql<number>`count(*)::int` }).from(results).where(eq(results.messageId, m.id));
    expect(n[0]!.n).toBe(1);
  });

  test("a crash between persist and publish re-publishes exactly once on redelivery", async () => {
    const m = sampleMessage();
    const realPublish = bus.publish.bind(bus);
    let failOnce = true;
    const flakyBus = Object.assign(Object.create(bus), {
      publish: async (topic: string, rs: Parameters<typeof bus.publish>[1]) => {
        if (topic === "out" && failOnce) {
          failOnce = false;
          throw new AppError("bus_publish_failed", "broker gone", { retriable: true });
        }
        return realPublish(topic, rs);
      },
    });
    const mm = new MasterAgent({ bus: flakyBus, store, sessions, agents: [], metrics: new Metrics(false), log: testLog, groupId: "x", topics, limits: { maxTextChars: 1000, maxAttachments: 2 }, workerTimeoutMs: 200, workerRetries: 0, concurrency: 1 });
    await expect(mm.handleBatch([rec(m)])).rejects.toThrow(/broker gone/);
    expect((await store.existing([m.id])).get(m.id)).toEqual({ published: false });
    await mm.handleBatch([rec(m)]);
    for (let i = 0; i < 100 && !published.find((p) => p.message_id === m.id); i++) await Bun.sleep(10);
    expect(published.filter((p) => p.message_id === m.id).length).toBe(1);
    expect((await store.existing([m.id])).get(m.id)).toEqual({ published: true });
  });

  test("a worker's prepare warms up the whole batch once; a failing prepare leaves each message to its own run", async () => {
    const conv = `conv-${rand()}`;
    const msgs = [0, 1, 2].map(() => sampleMessage({ metadata: { received_at: new Date().toISOString(), conversation_id: conv } }));
    const batches: string[][] = [];
    const warmed = new Set<string>();
    const warm: Agent = {
      name: "warm",
      prepare: async (batch) => {
        batches.push(batch.map((b) => b.msg.id));
        for (const b of batch) warmed.add(b.msg.id);
      },
      run: async (m) => ok({ warmed: warmed.has(m.id) }),
    };
    const broken: Agent = {
      name: "broken_prepare",
      prepare: async () => {
        throw new Error("encoder exploded");
      },
      run: async (m) => (m.id === msgs[1]!.id ? err(new AppError("bad_text", "this one is bad", { retriable: false })) : ok("fine")),
    };
    await master([warm, broken]).handleBatch(msgs.map((m, i) => rec(m, i)));
    expect(batches).toEqual([msgs.map((m) => m.id)]);
    for (let i = 0; i < 100 && msgs.some((m) => !published.find((p) => p.message_id === m.id)); i++) await Bun.sleep(10);
    const evs = msgs.map((m) => published.find((p) => p.message_id === m.id)!);
    expect(evs.map((e) => e.outputs.warm)).toEqual([{ warmed: true }, { warmed: true }, { warmed: true }]);
    // The failed warm-up cost nothing but itself: the bad message alone is degraded, the others went through.
    expect(evs.map((e) => e.degraded)).toEqual([false, true, false]);
    expect(evs.map((e) => e.outputs.broken_prepare ?? null)).toEqual(["fine", null, "fine"]);
  });

  test("the session gets the customer turn with the worker facts", async () => {
    const conv = `conv-${rand()}`;
    const agents: Agent[] = [{ name: "intent", run: async () => ok({ label: "refund_status" }) }];
    const seen: number[] = [];
    const probe: Agent = { name: "probe", run: async (_m, c) => (seen.push(c.session.turns.length), ok(null)) };
    const mm = master([...agents, probe]);
    const a = sampleMessage({ metadata: { received_at: new Date().toISOString(), conversation_id: conv } });
    const b = sampleMessage({ metadata: { received_at: new Date().toISOString(), conversation_id: conv } });
    await mm.handleBatch([rec(a), rec(b)]);
    expect(seen).toEqual([0, 1]);
    const s = await sessions.get(conv);
    expect(s.turns.map((t) => t.meta?.intent)).toEqual(["refund_status", "refund_status"]);
  });
});
