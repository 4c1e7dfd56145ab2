import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { inArray, sql } from "drizzle-orm";
import { MasterAgent } from "../../src/agents/master.ts";
import type { Agent } from "../../src/agents/types.ts";
import type { EventBus } from "../../src/bus/interface.ts";
import { KafkaBus } from "../../src/bus/kafka.ts";
import { MemoryBus } from "../../src/bus/memory.ts";
import { deadLetters, results } from "../../src/db/schema.ts";
import { dbError, openPglite, openPostgres, type Store } from "../../src/db/store.ts";
import { AppError, ok } from "../../src/errors.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { MemorySessionStore } from "../../src/session/memory.ts";
import { describeWith, rand, sampleMessage, services, testLog, waitFor } from "../support/env.ts";

/** February 30th passes the schema (JavaScript rolls it over to March 2nd) but PostgreSQL refuses it: SQLSTATE 22008. */
const POISON_DATE = "2026-02-30T10:00:00Z";

/** A store whose saves fail retriably, forever, whenever the group contains `stuck` (a record that never recovers). */
function stuckStore(store: Store, stuck: Set<string>): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "saveProcessed") {
        return async (items: Parameters<Store["saveProcessed"]>[0]) => {
          if (items.some((p) => stuck.has(p.message.id))) throw new AppError("db_error", "database: connection reset by peer", { status: 503, retriable: true });
          return target.saveProcessed(items);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

const counting = (runs: Map<string, number>): Agent => ({ name: "count", run: async (m) => (runs.set(m.id, (runs.get(m.id) ?? 0) + 1), ok({ chars: m.message.text.length })) });

/** The same scenarios on the embedded bus + PGlite and on real Kafka + PostgreSQL. */
function scenarios(name: string, open: () => Promise<{ bus: EventBus; store: Store; topics: { messages: string; responses: string; dlq: string }; close(): Promise<void> }>) {
  describe(name, () => {
    let env: Awaited<ReturnType<typeof open>>;
    beforeAll(async () => {
      env = await open();
    }, 60_000);
    afterAll(async () => {
      await env.close();
    });

    const masterFor = (store: Store, runs: Map<string, number>, metrics = new Metrics(false)) =>
      new MasterAgent({
        bus: env.bus,
        store,
        sessions: new MemorySessionStore({ ttlSeconds: 600, maxTurns: 10 }),
        agents: [counting(runs)],
        metrics,
        log: testLog,
        groupId: `master-${rand()}`,
        topics: env.topics,
        limits: { maxTextChars: 1000, maxAttachments: 2 },
        workerTimeoutMs: 1000,
        workerRetries: 0,
        concurrency: 4,
        retry: { maxAttempts: 3, baseMs: 5, maxMs: 20 },
      });
    const stored = async (ids: string[]) => (await env.store.db.select({ id: results.messageId }).from(results).where(inArray(results.messageId, ids))).map((r) => r.id);
    const deadFor = async (ids: string[]) => {
      // LIKE, not ::jsonb: the shared table also holds raw payloads that are not JSON (that is why they are there).
      return env.store.db.select().from(deadLetters).where(sql`${deadLetters.raw} like any(${`{${ids.map((i) => `%${i}%`).join(",")}}`}::text[])`);
    };

    test("a poison record in a batch of N goes to the DLQ with its reason, the N-1 others are persisted, workers run once", async () => {
      const conv = `conv-${rand()}`;
      const N = 9;
      const msgs = Array.from({ length: N }, () => sampleMessage({ metadata: { received_at: new Date().toISOString(), conversation_id: conv } }));
      msgs[4]!.metadata.received_at = POISON_DATE;
      const runs = new Map<string, number>();
      // One key: one partition, one ordered batch.
      await env.bus.publish(env.topics.messages, msgs.map((m) => ({ key: conv, value: JSON.stringify(m) })));
      const master = masterFor(env.store, runs);
      await master.start();
      try {
        const good = msgs.filter((_, i) => i !== 4).map((m) => m.id);
        await waitFor(async () => (await stored(good)).length === N - 1, 30_000, "N-1 results");
        const dead = await waitFor(async () => (await deadFor([msgs[4]!.id]))[0], 30_000, "the poison's dead letter");
        expect(dead.reason).toMatch(/^permanent: .*SQLSTATE 22008/);
        expect(await stored([msgs[4]!.id])).toEqual([]);
        for (const m of msgs) expect(runs.get(m.id)).toBe(1);
        // The partition continues: a later message on the same key is processed.
        const next = sampleMessage({ metadata: { received_at: new Date().toISOString(), conversation_id: conv } });
        await env.bus.publish(env.topics.messages, [{ key: conv, value: JSON.stringify(next) }]);
        await waitFor(async () => (await stored([next.id])).length === 1, 30_000, "the next message");
      } finally {
        await master.stop();
      }
    }, 60_000);

    test("a retriable failure that never recovers is retried with backoff up to the limit, parked, and the partition continues", async () => {
      const conv = `conv-${rand()}`;
      const msgs = Array.from({ length: 6 }, () => sampleMessage({ metadata: { received_at: new Date().toISOString(), conversation_id: conv } }));
      const stuck = new Set([msgs[2]!.id]);
      const metrics = new Metrics(false);
      const runs = new Map<string, number>();
      await env.bus.publish(env.topics.messages, msgs.map((m) => ({ key: conv, value: JSON.stringify(m) })));
      const master = masterFor(stuckStore(env.store, stuck), runs, metrics);
      await master.start();
      try {
        const good = msgs.filter((m) => !stuck.has(m.id)).map((m) => m.id);
        await waitFor(async () => (await stored(good)).length === good.length, 30_000, "the records that can be saved");
        const dead = await waitFor(async () => (await deadFor([msgs[2]!.id]))[0], 30_000, "the parked record");
        expect(dead.reason).toMatch(/^parked: db_error: .*connection reset.*after 3 attempts/);
        expect((await metrics.parked.get()).values.reduce((a, v) => a + v.value, 0)).toBe(1);
        expect((await metrics.persistRetries.get()).values[0]!.value).toBeGreaterThanOrEqual(2);
        const next = sampleMessage({ metadata: { received_at: new Date().toISOString(), conversation_id: conv } });
        await env.bus.publish(env.topics.messages, [{ key: conv, value: JSON.stringify(next) }]);
        await waitFor(async () => (await stored([next.id])).length === 1, 30_000, "the next message on the same partition");
        expect(runs.get(msgs[2]!.id)).toBe(1);
      } finally {
        await master.stop();
      }
    }, 60_000);

    test("when the database itself is down nothing is parked: the batch fails and is redelivered", async () => {
      const down = new Proxy(env.store, {
        get(target, prop, receiver) {
          if (prop === "saveProcessed") return async () => Promise.reject(new AppError("db_error", "database: ECONNREFUSED", { status: 503, retriable: true }));
          if (prop === "ping") return async () => false;
          const v = Reflect.get(target, prop, receiver);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
      const m = sampleMessage();
      const master = masterFor(down, new Map());
      const rec = { topic: env.topics.messages, partition: 0, offset: "0", timestamp: Date.now(), key: "k", value: JSON.stringify(m), headers: {} };
      await expect(master.handleBatch([rec])).rejects.toThrow(/ECONNREFUSED/);
      expect(await deadFor([m.id])).toEqual([]);
    });
  });
}

describe("SQLSTATE classification", () => {
  test("data (22) and integrity (23) errors are permanent; connection and other errors retriable", () => {
    expect(dbError(Object.assign(new Error("bad"), { code: "22P05" })).retriable).toBe(false);
    expect(dbError({ message: "wrapped", cause: Object.assign(new Error("dup"), { code: "23505" }) }).retriable).toBe(false);
    expect(dbError(Object.assign(new Error("gone"), { code: "08006" })).retriable).toBe(true);
    expect(dbError(Object.assign(new Error("refused"), { code: "ECONNREFUSED" })).retriable).toBe(true);
  });
});

scenarios("bounded failure in the master: embedded bus + PGlite", async () => {
  const store = await openPglite(null);
  const bus = new MemoryBus(1, 100, 20);
  const topics = { messages: "in", responses: "out", dlq: "in.dlq" };
  await bus.start(Object.values(topics));
  return { bus, store, topics, close: async () => (await bus.stop(), await store.close()) };
});

describeWith("kafka", "bounded failure in the master: real Kafka + PostgreSQL", () => {
  scenarios("real services", async () => {
    const id = rand();
    const topics = { messages: `cm-${id}`, responses: `re-${id}`, dlq: `cm-${id}.dlq` };
    const bus = new KafkaBus({ brokers: [services.kafka!], clientId: `fail-${id}`, groupId: `g-${id}`, ssl: false, partitions: 1, sessionTimeoutMs: 10_000 }, testLog);
    await bus.start(Object.values(topics));
    const store = await openPostgres(services.postgres!);
    return { bus, store, topics, close: async () => (await bus.stop(), await store.close()) };
  });
});
