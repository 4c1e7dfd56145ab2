import { hostname } from "node:os";
import { resolve } from "node:path";
import type { EnvReader } from "./reader.ts";
import type { Config } from "./types.ts";

/** TOPIC_*: the topic names, checked against Kafka's naming rule. */
export function topicsSection(r: EnvReader): Config["topics"] {
  const messages = r.str("TOPIC_CUSTOMER_MESSAGES", "customer-messages");
  const topics = { messages, responses: r.str("TOPIC_RESPONSE_EVENTS", "response-events"), dlq: r.str("TOPIC_DLQ", `${messages}.dlq`), stream: r.str("TOPIC_REPLY_STREAM", "reply-stream") };
  for (const [k, v] of Object.entries(topics)) {
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(v)) r.problem(`topic ${k}=${JSON.stringify(v)} is not a valid Kafka topic name`);
  }
  return topics;
}

/** KAFKA_*: the broker connection (null = the embedded in-process bus). */
export function kafkaSection(r: EnvReader): Config["kafka"] {
  const brokers = r.str("KAFKA_BROKERS", "");
  if (!brokers) return null;
  const list = brokers.split(",").map((b) => b.trim()).filter(Boolean);
  for (const b of list) if (!/^[^\s:]+:\d{1,5}$/.test(b)) r.problem(`KAFKA_BROKERS entry ${JSON.stringify(b)} must be host:port`);
  let sasl: NonNullable<Config["kafka"]>["sasl"];
  if (r.str("KAFKA_SASL_MECHANISM", "")) {
    const mechanism = r.oneOf("KAFKA_SASL_MECHANISM", "scram-sha-512", ["scram-sha-512", "scram-sha-256", "plain"] as const);
    const username = r.secret("KAFKA_SASL_USERNAME");
    const password = r.secret("KAFKA_SASL_PASSWORD");
    if (!username || !password) r.problem("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or *_FILE) are required with KAFKA_SASL_MECHANISM");
    sasl = { mechanism, username: username ?? "", password: password ?? "" };
  }
  return {
    brokers: list,
    clientId: r.str("KAFKA_CLIENT_ID", "support-copilot"),
    groupId: r.str("KAFKA_GROUP_ID", "support-copilot-master"),
    ssl: r.bool("KAFKA_SSL", false),
    sslCaFile: r.env.KAFKA_SSL_CA_FILE || undefined,
    sasl,
    partitions: r.int("KAFKA_PARTITIONS", 6, 1, 1000),
    // The broker's group.min/max.session.timeout.ms (6 s / 30 min by default) bound this.
    sessionTimeoutMs: r.int("KAFKA_SESSION_TIMEOUT_MS", 10_000, 6_000, 1_800_000),
    maxBatchRecords: r.int("KAFKA_MAX_BATCH_RECORDS", 512, 1, 100_000),
    maxBytesPerPartition: r.int("KAFKA_MAX_BYTES_PER_PARTITION", 1_048_576, 16_384, 104_857_600),
  };
}

/**
 * Consumer-group names of this deployment: the master's group, and derived groups for the other consumers. `shared`
 * groups split the work between replicas; `perProcess` ones see every record in each process (fan-out to sockets).
 */
export function consumerGroups(c: Pick<Config, "kafka"> & { rag?: Pick<Config["rag"], "dataDir"> }) {
  const base = c.kafka?.groupId ?? "support-copilot-master";
  const me = `${hostname()}-${process.pid}`;
  // One group per copy of the past-tickets index (its RAG_DATA_DIR on this host): every copy must index every approved
  // reply, and a restarted process resumes its own copy where it stopped. Per host only, two workers on one host split
  // the stream and each indexed half of the tickets.
  const indexCopy = new Bun.CryptoHasher("sha256").update(resolve(c.rag?.dataDir ?? ".data/index")).digest("hex").slice(0, 12);
  return {
    master: base,
    drafting: `${base}-drafting`,
    pastTickets: `${base}-past-tickets-${hostname()}-${indexCopy}`,
    hub: `${base}-hub-${me}`,
    stream: `${base}-stream-${me}`,
    supersede: `${base}-supersede-${me}`,
  };
}
