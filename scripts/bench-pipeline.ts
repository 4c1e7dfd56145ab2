/**
 * bench:pipeline — N messages through real Kafka → master → PostgreSQL → response-events, with no workers.
 * Phase 1 (throughput): N messages are put on the topic, then the master drains them; msgs/s = N / drain time.
 * Phase 2 (latency): messages are submitted through the ingest path at a fixed rate; latency = received_at
 * (stamped at ingest) → result event seen by a separate consumer of response-events.
 * Needs KAFKA_BROKERS, DATABASE_URL and REDIS_URL (`eval "$(scripts/services.sh env)"`). Last line: JSON figures.
 */
import { Kafka, logLevel } from "kafkajs";
import { cpus } from "node:os";
import { loadConfig } from "../src/config.ts";
import { openParts, startService } from "../src/runtime.ts";
import { numArg, pct, waitUntil } from "./lib/bench.ts";

const N = numArg("n", 20_000);
const RATE = numArg("rate", 200);
const SECONDS = numArg("seconds", 20);

if (!process.env.KAFKA_BROKERS || !process.env.DATABASE_URL) {
  console.error('bench:pipeline needs the real services: run `scripts/services.sh up && eval "$(scripts/services.sh env)"` first');
  process.exit(2);
}
const id = Math.random().toString(36).slice(2, 8);
const config = loadConfig({
  ...process.env,
  LOG_LEVEL: "warn",
  ROLE: "worker",
  KAFKA_GROUP_ID: `bench-${id}`,
  TOPIC_CUSTOMER_MESSAGES: `bench-cm-${id}`,
  TOPIC_RESPONSE_EVENTS: `bench-re-${id}`,
});
const parts = await openParts(config);
const kafka = new Kafka({ brokers: config.kafka!.brokers, clientId: `bench-obs-${id}`, logLevel: logLevel.NOTHING });
const seen = new Map<string, number>();
const observer = kafka.consumer({ groupId: `bench-obs-${id}`, maxWaitTimeInMs: 20 });
await observer.connect();
await observer.subscribe({ topic: config.topics.responses, fromBeginning: true });
await observer.run({
  eachBatch: async ({ batch }) => {
    const now = Date.now();
    for (const m of batch.messages) {
      const id = m.headers?.["message-id"]?.toString();
      if (id && !seen.has(id)) seen.set(id, now);
    }
  },
});

const message = (i: number) => ({
  id: Bun.randomUUIDv7(),
  source: "chat",
  user: { id: `bench-user-${i % 500}` },
  message: { text: `Benchmark message ${i}: my card payment was declined twice today`, attachments: [] },
  metadata: { received_at: new Date().toISOString(), conversation_id: `bench-${i % 500}` },
});

// Phase 1: preload, then drain.
console.log(`phase 1: ${N} messages preloaded on ${config.topics.messages} (${config.kafka!.partitions} partitions), master drains`);
const preloadIds: string[] = [];
for (let i = 0; i < N; i += 2000) {
  const batch = Array.from({ length: Math.min(2000, N - i) }, (_, j) => message(i + j));
  preloadIds.push(...batch.map((m) => m.id));
  await parts.bus.publish(config.topics.messages, batch.map((m) => ({ key: m.metadata.conversation_id, value: JSON.stringify(m), headers: { "message-id": m.id } })));
}
const t0 = performance.now();
const service = await startService(parts, []);
const drained = await waitUntil(() => preloadIds.every((i) => seen.has(i)), 300_000);
const drainS = (performance.now() - t0) / 1000;
const msgsPerS = N / drainS;
console.log(`  drained ${drained ? N : [...preloadIds].filter((i) => seen.has(i)).length}/${N} in ${drainS.toFixed(2)} s → ${msgsPerS.toFixed(0)} msg/s (includes consumer-group join)`);

// Let the drain's aftermath (offset commits, GC of 20k results) settle so phase 2 measures steady state.
await Bun.sleep(3000);

// Phase 2: paced ingest through the publisher at RATE msg/s.
const total = RATE * SECONDS;
console.log(`phase 2: ${total} messages at ${RATE} msg/s through the ingest path`);
const sent: { id: string; at: number }[] = [];
const start = performance.now();
for (let i = 0; i < total; i++) {
  const due = start + (i * 1000) / RATE;
  const wait = due - performance.now();
  if (wait > 0) await Bun.sleep(wait);
  const m = message(i);
  const res = await service.publisher.submit({ source: "chat", user: m.user, message: m.message, metadata: { conversation_id: m.metadata.conversation_id } });
  if (res.ok) sent.push({ id: res.value.id, at: Date.parse(res.value.metadata.received_at) });
}
await waitUntil(() => sent.every((s) => seen.has(s.id)), 60_000);
const lat = sent.filter((s) => seen.has(s.id)).map((s) => seen.get(s.id)! - s.at);
const p50 = pct(lat, 50);
const p99 = pct(lat, 99);
console.log(`  delivered ${lat.length}/${total}; ingest→result latency p50 ${p50} ms, p99 ${p99} ms`);

await observer.disconnect();
await service.stop();
console.log(`machine: ${cpus().length} cores, ${cpus()[0]?.model ?? "?"}; bun ${Bun.version}`);
console.log(JSON.stringify({ msgs_per_s: Math.round(msgsPerS), p50_ms: p50, p99_ms: p99, n: N, rate: RATE, latency_samples: lat.length, lost: total - lat.length + (drained ? 0 : 1) }));
