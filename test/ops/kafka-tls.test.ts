import { afterAll, expect, test } from "bun:test";
import { Kafka } from "kafkajs";
import { KafkaBus, kafkaClientConfig } from "../../src/bus/kafka.ts";
import type { InRecord } from "../../src/bus/interface.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/obs/log.ts";
import { describeWith, rand } from "../support/env.ts";

// Brokers and CA of the SSL listener started by scripts/services.sh (`scripts/services.sh env` prints them).
const brokers = process.env.KAFKA_SSL_BROKERS;
const caFile = process.env.KAFKA_SSL_CA_FILE;
const log = createLogger("silent");

function sslConfig(extra: Record<string, string> = {}) {
  const config = loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent", KAFKA_BROKERS: brokers, KAFKA_SSL: "true", KAFKA_SSL_CA_FILE: caFile, KAFKA_PARTITIONS: "2", ...extra });
  return config.kafka!;
}

async function until<T>(fn: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

describeWith(["kafkaSsl"], "Kafka over TLS", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  test("kafkaClientConfig carries the CA from KAFKA_SSL_CA_FILE", () => {
    const cfg = kafkaClientConfig(sslConfig());
    expect(typeof cfg.ssl).toBe("object");
    expect(String((cfg.ssl as { ca: string[] }).ca[0])).toContain("BEGIN CERTIFICATE");
  });

  test("produces and consumes a record through kafkajs configured by kafkaClientConfig", async () => {
    const opts = sslConfig();
    const kafka = new Kafka(kafkaClientConfig(opts));
    const topic = `tls-${rand()}`;
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    cleanups.push(() => admin.deleteTopics({ topics: [topic] }));

    const producer = kafka.producer();
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    const marker = `hello over tls ${rand()}`;
    await producer.send({ topic, acks: -1, messages: [{ key: "k", value: marker, headers: { probe: "tls" } }] });

    const consumer = kafka.consumer({ groupId: `tls-${rand()}`, maxWaitTimeInMs: 50 });
    await consumer.connect();
    cleanups.push(() => consumer.disconnect());
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: { value: string; probe: string }[] = [];
    await consumer.run({ eachMessage: async ({ message }) => void got.push({ value: message.value!.toString(), probe: String(message.headers?.probe) }) });
    const rec = await until(() => got.find((g) => g.value === marker), 20_000, "the record over TLS");
    expect(rec.probe).toBe("tls");
  }, 30_000);

  test("the event bus round-trips over TLS and reports per-partition lag from the broker", async () => {
    const opts = sslConfig();
    const bus = new KafkaBus(opts, log);
    const topic = `tls-bus-${rand()}`;
    await bus.start([topic]);
    cleanups.push(() => bus.stop());
    const group = `tls-bus-${rand()}`;
    const seen: InRecord[] = [];
    const sub = await bus.subscribe({ groupId: group, topics: [topic], handler: async (rs) => void seen.push(...rs) });
    await bus.publish(topic, [
      { key: "a", value: "one" },
      { key: "b", value: "two" },
    ]);
    await until(() => (seen.length >= 2 ? true : undefined), 20_000, "both records");
    expect(seen.map((r) => r.value).sort()).toEqual(["one", "two"]);
    await sub.stop();
    // Nothing is left uncommitted, and both partitions are reported.
    const lag = await bus.consumerLag(group, [topic]);
    expect(lag.map((l) => l.partition).sort()).toEqual(["0", "1"]);
    expect(lag.reduce((s, l) => s + l.lag, 0)).toBe(0);
    await bus.publish(topic, [{ key: "c", value: "three" }]);
    const after = await bus.consumerLag(group, [topic]);
    expect(after.reduce((s, l) => s + l.lag, 0)).toBe(1);
  }, 40_000);

  test("a client that does not trust the test CA is refused (the listener really is TLS)", async () => {
    const opts = sslConfig({ KAFKA_SSL_CA_FILE: "" });
    const kafka = new Kafka({ ...kafkaClientConfig(opts), retry: { retries: 0 }, connectionTimeout: 3000 });
    const admin = kafka.admin();
    const err = await admin.connect().then(
      () => null,
      (e: Error) => e,
    );
    await admin.disconnect().catch(() => {});
    expect(err).not.toBeNull();
    expect(`${err!.message} ${String((err as { cause?: unknown }).cause ?? "")}`).toMatch(/certificate|self[- ]signed|verify|SSL|TLS|issuer/i);
  }, 15_000);
});
