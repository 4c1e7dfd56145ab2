/**
 * bench:plumbing — the CPU a `ROLE=worker` process spends around its models: the Kafka consumer and producer, the
 * master's batch handling, PostgreSQL persistence, Redis sessions, result events, logging, tracing and metrics.
 * The workers are replaced by stand-ins that answer at once with REAL outputs (computed first by the product's
 * triage and knowledge workers over the same realistic messages as bench:e2e), so the results, rows and sessions
 * have their production sizes, and the CPU of this process is the plumbing alone.
 *
 *   N realistic messages are preloaded on a fresh topic (4 partitions); the master (real Kafka, PostgreSQL, Redis,
 *   the product's instrumentation) drains them; CPU = process.cpuUsage() from the service start to the last result.
 *
 *   bun run bench:plumbing [--n 4000] [--distinct 200]
 *
 * Needs KAFKA_BROKERS, DATABASE_URL, REDIS_URL (`eval "$(scripts/services.sh env)"`). Last line:
 *   {"plumbing_cpu_ms_per_msg":…,"msgs_per_s":…,"result_bytes_avg":…,"n":…,"load_average":…}
 */
import { loadavg } from "node:os";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { consumerGroups } from "../src/config.ts";
import { pastTicketsHandler } from "../src/agents/registry.ts";
import { ok } from "../src/errors.ts";
import { createLogger } from "../src/obs/log.ts";
import { openParts, startService } from "../src/runtime.ts";
import type { Agent } from "../src/agents/types.ts";
import { knowledgeAgent } from "../src/agents/knowledge/index.ts";
import { triageAgents } from "../src/agents/triage/index.ts";
import { loadTriage } from "../src/ml/index.ts";
import { openKnowledge } from "../src/rag/index.ts";
import { emptySession } from "../src/session/interface.ts";
import type { CustomerMessage } from "../src/schema/message.ts";
import { numArg, waitUntil } from "./lib/bench.ts";
import { benchWorkerConfig } from "./lib/config.ts";
import { realisticTraffic } from "./lib/traffic.ts";

const N = numArg("n", 4000);
const DISTINCT = numArg("distinct", 200);
const DATA = process.env.BANKING77_TRAIN ?? join(import.meta.dir, "../../shared/data/banking77/train.csv");
for (const v of ["KAFKA_BROKERS", "DATABASE_URL", "REDIS_URL"]) {
  if (!process.env[v]) {
    console.error(`bench:plumbing needs the real services (${v} is unset): eval "$(scripts/services.sh env)"`);
    process.exit(2);
  }
}
const id = Math.random().toString(36).slice(2, 8);
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");
const realistic = realisticTraffic(DATA);

// 1. Real worker outputs for DISTINCT messages (the models are released before the measured part).
const config = benchWorkerConfig("plumb", id);
const names = ["intent", "sentiment", "entities", "knowledge"] as const;
const canned: Record<string, unknown>[] = [];
{
  const triage = await loadTriage({ modelsDir: config.models.dir, embedText: config.models.embedText, embedder: { workers: config.models.encoderWorkers, threads: config.models.encoderThreads ?? undefined } });
  const knowledge = await openKnowledge({ embedder: triage.embedder, dataDir: config.rag.dataDir, kbDir: config.rag.kbDir, log: createLogger("warn") });
  const real = [...triageAgents(triage.model), knowledgeAgent(knowledge)];
  for (let i = 0; i < DISTINCT; i++) {
    const m = realistic(i);
    const msg: CustomerMessage = { id: Bun.randomUUIDv7(), source: "chat", user: m.user, message: { text: m.message.text, attachments: [] }, metadata: { received_at: new Date().toISOString(), conversation_id: m.conversation } };
    const ctx = { conversationId: m.conversation, session: emptySession(m.conversation), previous: {}, signal: new AbortController().signal, log: createLogger("warn") };
    const out: Record<string, unknown> = {};
    for (const a of real) {
      const r = await a.run(msg, ctx);
      if (r.ok) out[a.name] = r.value;
    }
    canned.push(out);
  }
  await knowledge.close();
  await triage.close();
}
console.log(`real worker outputs for ${DISTINCT} messages computed; load average ${load()}`);

// 2. Stand-ins: the same names, stage and outputs as the real workers, answering at once.
const textIndex = new Map<string, number>();
const standIns: Agent[] = names.map((name) => ({
  name,
  stage: 0,
  async run(msg: CustomerMessage) {
    return ok(canned[(textIndex.get(msg.message.text) ?? 0) % DISTINCT]![name]);
  },
}));

// 3. Backlog on a fresh topic, then the worker drains it.
const kafka = new Kafka({ brokers: config.kafka!.brokers, clientId: `plumb-${id}`, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [config.topics.messages, config.topics.responses, config.topics.dlq, config.topics.stream].map((topic) => ({ topic, numPartitions: 4 })), waitForLeaders: true });
await admin.disconnect();
const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
for (let i = 0; i < N; i += 1000) {
  const batch = Array.from({ length: Math.min(1000, N - i) }, (_, j) => {
    const m = realistic(i + j);
    textIndex.set(m.message.text, (i + j) % DISTINCT);
    const msg = { id: Bun.randomUUIDv7(), source: "chat", user: m.user, message: { text: m.message.text, attachments: [] }, metadata: { received_at: new Date().toISOString(), conversation_id: m.conversation } };
    return { key: m.conversation, value: JSON.stringify(msg), headers: { "message-id": msg.id } };
  });
  await producer.send({ topic: config.topics.messages, messages: batch });
}
await producer.disconnect();
console.log(`${N} realistic messages preloaded on ${config.topics.messages} (4 partitions)`);

const parts = await openParts(config);
let published = 0;
let bytes = 0;
const publish = parts.bus.publish.bind(parts.bus);
parts.bus.publish = (topic, records) => {
  if (topic === config.topics.responses) {
    published += records.length;
    for (const r of records) bytes += r.value.length;
  }
  return publish(topic, records);
};
Bun.gc(true);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const service = await startService(parts, standIns);
// The worker's other consumer of response-events: every result is read again to find approved replies.
const tickets = await parts.bus.subscribe({ groupId: consumerGroups(config).pastTickets, topics: [config.topics.responses], handler: pastTicketsHandler({ addPastTicket: async () => {}, removePastTickets: async () => 0 }) });
const done = await waitUntil(() => published >= N, 300_000, 10);
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(`drained ${published}/${N} in ${wall.toFixed(1)} s (${(published / wall).toFixed(0)} msg/s, consumer-group join included); load average ${load()}`);
console.log(`plumbing CPU ${(cpuMs / 1000).toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, system ${(cpu.system / 1e6).toFixed(2)}) → ${(cpuMs / Math.max(1, published)).toFixed(2)} ms per message; result event ${Math.round(bytes / Math.max(1, published))} bytes on average`);
await tickets.stop();
await service.stop();
console.log(
  JSON.stringify({
    plumbing_cpu_ms_per_msg: Number((cpuMs / Math.max(1, published)).toFixed(3)),
    msgs_per_s: Math.round(published / wall),
    result_bytes_avg: Math.round(bytes / Math.max(1, published)),
    drained: done,
    n: N,
    load_average: Number(loadavg()[0]!.toFixed(2)),
  }),
);
process.exit(0);
