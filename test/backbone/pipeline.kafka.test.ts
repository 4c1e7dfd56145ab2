import { afterAll, beforeAll, expect, test } from "bun:test";
import { Kafka, logLevel } from "kafkajs";
import { eq, sql } from "drizzle-orm";
import { MasterAgent } from "../../src/agents/master.ts";
import type { Agent, ResultEvent } from "../../src/agents/types.ts";
import { deadLetters, results } from "../../src/db/schema.ts";
import { AppError, ok } from "../../src/errors.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { describeWith, rand, sampleMessage, services, testConfig, waitFor } from "../support/env.ts";

describeWith(["kafka", "postgres", "redis"], "pipeline on real Kafka + PostgreSQL + Redis", () => {
  const id = rand();
  const env = {
    KAFKA_BROKERS: services.kafka,
    KAFKA_PARTITIONS: "3",
    KAFKA_GROUP_ID: `master-${id}`,
    KAFKA_CLIENT_ID: `test-${id}`,
    DATABASE_URL: services.postgres,
    REDIS_URL: services.redis,
    TOPIC_CUSTOMER_MESSAGES: `cm-${id}`,
    TOPIC_RESPONSE_EVENTS: `re-${id}`,
    API_KEYS: "pipeline-test-key-0123456789",
  };
  const config = testConfig(env);
  const kafka = new Kafka({ brokers: [services.kafka!], clientId: `observer-${id}`, logLevel: logLevel.NOTHING });
  const events: ResultEvent[] = [];
  const dlq: Record<string, unknown>[] = [];
  const observer = kafka.consumer({ groupId: `observer-${id}`, maxWaitTimeInMs: 50 });
  let svc: Service;
  const echo: Agent = { name: "echo", run: async (m) => ok({ words: m.message.text.split(/\s+/).length }) };

  beforeAll(async () => {
    svc = await startService(await openParts(config), [echo]);
    await observer.connect();
    await observer.subscribe({ topics: [config.topics.responses, config.topics.dlq], fromBeginning: true });
    await observer.run({
      eachMessage: async ({ topic, message }) => {
        const v = JSON.parse(message.value!.toString());
        if (topic === config.topics.dlq) dlq.push(v);
        else events.push(v);
      },
    });
  }, 60_000);
  afterAll(async () => {
    await observer.disconnect();
    await svc.stop();
  }, 30_000);

  test("a message posted to the API reaches the master through the broker and its result arrives on response-events", async () => {
    const res = await svc.app!.handle(
      new Request("http://local/api/messages", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${env.API_KEYS}` },
        body: JSON.stringify({ source: "chat", user: { id: "kafka-user" }, message: { text: "please close my account" } }),
      }),
    );
    expect(res.status).toBe(202);
    const { id: messageId } = (await res.json()) as { id: string };
    const ev = await waitFor(() => events.find((e) => e.message_id === messageId), 30_000, "result event");
    expect(ev.outputs.echo).toEqual({ words: 4 });
    expect(ev.conversation_id).toBe("chat:kafka-user");
    const rows = await svc.parts.store.db.select().from(results).where(eq(results.messageId, messageId));
    expect(rows.length).toBe(1);
    expect((await svc.parts.sessions.get("chat:kafka-user")).turns.at(-1)?.message_id).toBe(messageId);
  }, 40_000);

  test("a malformed record lands in the DLQ with its reason", async () => {
    const producer = kafka.producer();
    await producer.connect();
    const raw = JSON.stringify({ ...sampleMessage(), user: { id: "" }, marker: id });
    await producer.send({ topic: config.topics.messages, messages: [{ key: "bad", value: raw }] });
    await producer.disconnect();
    const d = await waitFor(() => dlq.find((x) => x.raw === raw), 30_000, "dlq record");
    expect(d.code).toBe("invalid_message");
    expect(String(d.reason)).toContain("/user/id");
    const rows = await svc.parts.store.db.select().from(deadLetters).where(eq(deadLetters.raw, raw));
    expect(rows.length).toBe(1);
  }, 40_000);

  test("redelivery after a crash before commit persists exactly one row and publishes one event", async () => {
    const cid = rand();
    const topic = `cm-redeliver-${cid}`;
    await svc.parts.bus.start([topic]);
    let crashes = 0;
    const realPublish = svc.parts.bus.publish.bind(svc.parts.bus);
    const crashingBus = Object.assign(Object.create(svc.parts.bus), {
      publish: async (t: string, rs: Parameters<typeof realPublish>[1]) => {
        if (t === config.topics.responses && crashes === 0) {
          crashes++;
          throw new AppError("bus_publish_failed", "simulated crash after persist, before commit", { retriable: true });
        }
        return realPublish(t, rs);
      },
    });
    const master = new MasterAgent({
      bus: crashingBus,
      store: svc.parts.store,
      sessions: svc.parts.sessions,
      agents: [echo],
      metrics: new Metrics(false),
      log: svc.parts.log,
      groupId: `redeliver-${cid}`,
      topics: { ...config.topics, messages: topic },
      limits: config.limits,
      workerTimeoutMs: 1000,
      workerRetries: 0,
      concurrency: 2,
    });
    await master.start();
    const m = sampleMessage({ user: { id: `redeliver-${cid}` } });
    await realPublish(topic, [{ key: m.user.id, value: JSON.stringify(m) }]);
    const ev = await waitFor(() => events.find((e) => e.message_id === m.id), 45_000, "event after redelivery");
    expect(crashes).toBe(1);
    expect(ev.outputs.echo).toBeDefined();
    await Bun.sleep(500);
    await master.stop();
    expect(events.filter((e) => e.message_id === m.id).length).toBe(1);
    const n = await svc.parts.store.db.select({ n: sql<number>`count(*)::int` }).from(results).where(eq(results.messageId, m.id));
    expect(n[0]!.n).toBe(1);
  }, 60_000);
});
