import { afterAll, beforeAll, expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Subprocess, spawn } from "bun";
import { inArray } from "drizzle-orm";
import { AssignerProtocol, Kafka, logLevel } from "kafkajs";
import { results } from "../../src/db/schema.ts";
import { openPostgres, type Store } from "../../src/db/store.ts";
import { describeWith, rand, services, waitFor } from "../support/env.ts";

// Two `ROLE=worker` processes of the product (src/main.ts, the default workers and models) in one consumer group:
// they share the partitions, every message is processed once, and when one is killed the other takes its
// partitions over within the session timeout.
describeWith(["kafka", "postgres", "redis"], "scale-out: two worker processes in one consumer group (real Kafka)", () => {
  const id = rand();
  const group = `scale-${id}`;
  const topics = { messages: `cm-scale-${id}`, responses: `re-scale-${id}`, dlq: `dlq-scale-${id}`, stream: `rs-scale-${id}` };
  const SESSION_TIMEOUT_MS = 10_000;
  const kafka = new Kafka({ brokers: [services.kafka!], clientId: `scale-obs-${id}`, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const observer = kafka.consumer({ groupId: `scale-obs-${id}`, maxWaitTimeInMs: 50 });
  const producer = kafka.producer();
  /** Result events (revision 0) seen per message id: more than one would be a message processed twice. */
  const seen = new Map<string, number>();
  const workers: Subprocess[] = [];
  let store: Store;

  const worker = (n: number) =>
    spawn(["bun", "src/main.ts"], {
      cwd: join(import.meta.dir, "../.."),
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        APP_ENV: "test",
        LOG_LEVEL: "error",
        ROLE: "worker",
        HOST: "127.0.0.1",
        PORT: "0",
        KAFKA_BROKERS: services.kafka,
        KAFKA_GROUP_ID: group,
        KAFKA_CLIENT_ID: `scale-${id}-${n}`,
        KAFKA_PARTITIONS: "4",
        KAFKA_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
        DATABASE_URL: services.postgres,
        REDIS_URL: services.redis,
        TOPIC_CUSTOMER_MESSAGES: topics.messages,
        TOPIC_RESPONSE_EVENTS: topics.responses,
        TOPIC_DLQ: topics.dlq,
        TOPIC_REPLY_STREAM: topics.stream,
        RAG_DATA_DIR: join(tmpdir(), `scale-${id}-${n}`),
        LLM_GENERATOR: "none",
      },
      stdout: "ignore",
      stderr: "inherit",
    });

  /** Partitions of the messages topic held by each member of the master's consumer group. */
  const assignment = async (): Promise<number[][]> => {
    const { groups } = await admin.describeGroups([group]);
    return (groups[0]?.members ?? []).map((m) => {
      const a = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      return a?.assignment[topics.messages] ?? [];
    });
  };

  const send = async (n: number, tag: string): Promise<string[]> => {
    const msgs = Array.from({ length: n }, (_, i) => ({
      id: crypto.randomUUID(),
      source: "chat",
      user: { id: `scale-user-${tag}-${i}` },
      message: { text: i % 2 ? "My card was declined at the shop" : "How do I order a new card?", attachments: [] },
      metadata: { received_at: new Date().toISOString(), conversation_id: `chat:scale-${tag}-${i}` },
    }));
    await producer.send({ topic: topics.messages, messages: msgs.map((m) => ({ key: m.metadata.conversation_id, value: JSON.stringify(m), headers: { "message-id": m.id } })) });
    return msgs.map((m) => m.id);
  };

  beforeAll(async () => {
    await admin.connect();
    await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 4 })), waitForLeaders: true });
    await observer.connect();
    await observer.subscribe({ topic: topics.responses, fromBeginning: true });
    await observer.run({
      eachMessage: async ({ message }) => {
        const ev = JSON.parse(message.value!.toString()) as { type?: string; message_id?: string; revision?: number };
        if (ev.type === "message.result" && ev.message_id && !ev.revision) seen.set(ev.message_id, (seen.get(ev.message_id) ?? 0) + 1);
      },
    });
    await producer.connect();
    store = await openPostgres(services.postgres!, 2);
    workers.push(worker(1), worker(2));
    // Both members joined and split the four partitions between them.
    await waitFor(async () => {
      const a = await assignment();
      return a.length === 2 && a.every((p) => p.length > 0) && a.flat().length === 4;
    }, 150_000, "two workers sharing the partitions");
  }, 180_000);

  afterAll(async () => {
    for (const w of workers) w.kill("SIGKILL");
    await Promise.all(workers.map((w) => w.exited));
    await Promise.allSettled([observer.disconnect(), producer.disconnect()]);
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
    await admin.disconnect();
    await store?.close();
  });

  test("the two workers share the partitions and every message is processed exactly once", async () => {
    const ids = await send(200, "a");
    await waitFor(() => ids.every((m) => seen.has(m)), 90_000, "200 results");
    // Settle, so a late duplicate would show.
    await Bun.sleep(1500);
    expect(ids.filter((m) => seen.get(m) !== 1)).toEqual([]);
    const rows = await store.db.select({ id: results.messageId }).from(results).where(inArray(results.messageId, ids));
    expect(new Set(rows.map((r) => r.id)).size).toBe(200);
    const a = await assignment();
    expect(a.length).toBe(2);
    expect(a.every((p) => p.length > 0)).toBe(true);
  }, 120_000);

  test("when one worker is killed, the other takes over its partitions within the session timeout", async () => {
    workers[0]!.kill("SIGKILL");
    await workers[0]!.exited;
    const ids = await send(100, "b");
    await waitFor(async () => {
      const a = await assignment();
      return a.length === 1 && a[0]!.length === 4;
      // The coordinator waits for the session timeout, then rebalances in a few seconds.
    }, SESSION_TIMEOUT_MS + 20_000, "the survivor holding all four partitions within the session timeout");
    await waitFor(() => ids.every((m) => seen.has(m)), 60_000, "100 results after the takeover");
    expect(ids.filter((m) => seen.get(m) !== 1)).toEqual([]);
  }, 120_000);
});
