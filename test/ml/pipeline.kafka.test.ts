import { triageAgents } from "../../src/agents/triage/index.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { Kafka, logLevel } from "kafkajs";
import type { ResultEvent } from "../../src/agents/types.ts";
import { results } from "../../src/db/schema.ts";
import { loadTriage, type EntitiesOutput, type IntentOutput, type SentimentOutput, type Triage } from "../../src/ml/index.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { describeWith, rand, services, testConfig, waitFor } from "../support/env.ts";

describeWith(["kafka", "postgres", "redis"], "triage workers behind the master on real Kafka + PostgreSQL + Redis", () => {
  const id = rand();
  const env = {
    KAFKA_BROKERS: services.kafka,
    KAFKA_PARTITIONS: "2",
    KAFKA_GROUP_ID: `triage-${id}`,
    KAFKA_CLIENT_ID: `triage-test-${id}`,
    DATABASE_URL: services.postgres,
    REDIS_URL: services.redis,
    TOPIC_CUSTOMER_MESSAGES: `cm-triage-${id}`,
    TOPIC_RESPONSE_EVENTS: `re-triage-${id}`,
    API_KEYS: "triage-test-key-0123456789",
  };
  const config = testConfig(env);
  const kafka = new Kafka({ brokers: [services.kafka!], clientId: `observer-${id}`, logLevel: logLevel.NOTHING });
  const observer = kafka.consumer({ groupId: `observer-${id}`, maxWaitTimeInMs: 50 });
  const events: ResultEvent[] = [];
  let svc: Service;
  let triage: Triage;

  beforeAll(async () => {
    triage = await loadTriage({ modelsDir: join(import.meta.dir, "../../models") });
    svc = await startService(await openParts(config), triageAgents(triage.model));
    await observer.connect();
    await observer.subscribe({ topics: [config.topics.responses], fromBeginning: true });
    await observer.run({ eachMessage: async ({ message }) => void events.push(JSON.parse(message.value!.toString())) });
  }, 60_000);
  afterAll(async () => {
    await observer.disconnect();
    await svc.stop();
    await triage.close();
  });

  const post = async (user: string, text: string) => {
    const res = await svc.app!.handle(
      new Request("http://local/api/messages", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${env.API_KEYS}` },
        body: JSON.stringify({ source: "chat", user: { id: user }, message: { text } }),
      }),
    );
    expect(res.status).toBe(202);
    const { id: messageId } = (await res.json()) as { id: string };
    return waitFor(() => events.find((e) => e.message_id === messageId), 30_000, "result event");
  };

  test("typed intent / sentiment / entities outputs arrive on response-events and in the typed columns", async () => {
    const ev = await post(`u-${id}`, "My card was stolen this morning, block card 4111 1111 1111 1111 immediately!");
    expect(ev.degraded).toBe(false);
    const intent = ev.outputs.intent as IntentOutput;
    const sentiment = ev.outputs.sentiment as SentimentOutput;
    const entities = ev.outputs.entities as EntitiesOutput;
    expect(intent.label).toBe("lost_or_stolen_card");
    expect(intent.top[0]!.score).toBeGreaterThan(intent.threshold);
    expect(sentiment.urgency.level).toBe("high");
    expect(sentiment.urgency.reasons).toContain("urgent intent: lost_or_stolen_card");
    expect(entities.entities.find((e) => e.type === "card_number")).toMatchObject({ value: "**** **** **** 1111", valid: true });
    expect(JSON.stringify(ev.outputs)).not.toContain("4111 1111 1111 1111");
    const [row] = await svc.parts.store.db.select().from(results).where(eq(results.messageId, ev.message_id));
    expect(row!.intent).toBe("lost_or_stolen_card");
    expect(row!.intentConfidence).toBeCloseTo(intent.confidence, 4);
    expect(row!.urgency).toBe("high");
  }, 40_000);

  test("the third negative contact of a conversation within 24 h is high urgency from session memory", async () => {
    const user = `repeat-${id}`;
    await post(user, "My transfer has not arrived.");
    await post(user, "Still no sign of the transfer, this is bad.");
    const third = await post(user, "Where is my money? The transfer is still missing.");
    const s = third.outputs.sentiment as SentimentOutput;
    expect(s.urgency.level).toBe("high");
    expect(s.urgency.reasons).toContain("third contact in 24 h");
  }, 90_000);
});
