import { readFileSync } from "node:fs";
import { CompressionTypes, Kafka, logLevel, type Admin, type Consumer, type IHeaders, type KafkaConfig, type Producer, type SASLOptions } from "kafkajs";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { LagSample } from "../obs/metrics.ts";
import type { EventBus, InRecord, OutRecord, SubscribeOptions, Subscription } from "./interface.ts";

type KafkaOptions = NonNullable<Config["kafka"]>;

/** Kafka's default max.message.bytes is 1 MB per partition batch; stay well below it per request. */
const MAX_REQUEST_BYTES = 512 * 1024;

/** How many of the queued records fit in one request (at least one). */
function chunkLength(records: OutRecord[]): number {
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    bytes += records[i]!.value.length + records[i]!.key.length + 64;
    if (bytes > MAX_REQUEST_BYTES && i > 0) return i;
  }
  return records.length;
}

/** Record headers as strings (kafkajs gives Buffers, arrays of them, or undefined). */
function headersOf(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k in h) {
    const v = h[k];
    out[k] = Array.isArray(v) ? String(v[0]) : String(v ?? "");
  }
  return out;
}

interface PublishQueue {
  pending: OutRecord[];
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
  sending: boolean;
}

/** Builds the kafkajs client options (TLS, SASL) from typed config. */
export function kafkaClientConfig(opts: KafkaOptions, log?: Logger): KafkaConfig {
  const ssl = opts.ssl ? (opts.sslCaFile ? { ca: [readFileSync(opts.sslCaFile, "utf8")] } : true) : undefined;
  const sasl = opts.sasl ? ({ mechanism: opts.sasl.mechanism, username: opts.sasl.username, password: opts.sasl.password } as SASLOptions) : undefined;
  return {
    clientId: opts.clientId,
    brokers: opts.brokers,
    ssl,
    sasl,
    connectionTimeout: 5000,
    requestTimeout: 30000,
    // Waits between reconnect attempts are capped at 5 s (kafkajs default 30 s): a crashed consumer restarts after the
    // last wait, so with the default a broker that came back could sit unused for up to 30 s more.
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, label, log: entry }) => {
      if (!log) return;
      const { message, ...rest } = entry;
      const fields = { component: `kafkajs:${namespace}`, broker: rest.broker, error: rest.error };
      if (level <= logLevel.ERROR) log.error(fields, message);
      else if (level === logLevel.WARN) log.warn(fields, message);
      else log.debug({ ...fields, label }, message);
    },
  };
}

/** Kafka event bus: idempotent producer, consumer groups, topics created at start, offsets committed after the handler. */
export class KafkaBus implements EventBus {
  readonly kind = "kafka";
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly consumers = new Set<Consumer>();
  private readonly queues = new Map<string, PublishQueue>();
  private connected = false;
  private lagAdmin: Promise<Admin> | null = null;

  /** `maxQueued`: records that may wait per topic while a send is in flight or the broker is away. */
  constructor(private readonly opts: KafkaOptions, private readonly log: Logger, private readonly maxQueued = 10_000) {
    this.kafka = new Kafka(kafkaClientConfig(opts, log));
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  async start(topics: string[]): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({ topic, numPartitions: this.opts.partitions, replicationFactor: -1 })),
        });
        this.log.info({ component: "bus", topics: missing }, "created topics");
      }
    } finally {
      await admin.disconnect();
    }
    await this.producer.connect();
    this.connected = true;
  }

  /**
   * Publishes with natural batching: while one send to a topic is in flight, later calls are queued and go out
   * together in the next request. No linger when idle; many concurrent producers (chat sockets) share requests.
   */
  publish(topic: string, records: OutRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    let q = this.queues.get(topic);
    if (!q) this.queues.set(topic, (q = { pending: [], waiters: [], sending: false }));
    // Bounded: when Kafka is down the queue would otherwise grow until the process runs out of memory.
    if (q.pending.length + records.length > this.maxQueued && (q.pending.length > 0 || records.length > this.maxQueued)) {
      return Promise.reject(new AppError("publish_queue_full", `the publish queue to ${topic} is full (${q.pending.length} records waiting); retry later`, { status: 503, retriable: true, details: { retry_after_s: 5 } }));
    }
    q.pending.push(...records);
    const done = new Promise<void>((resolve, reject) => q!.waiters.push({ resolve, reject }));
    if (!q.sending) void this.flush(topic, q);
    return done;
  }

  private async flush(topic: string, q: PublishQueue): Promise<void> {
    q.sending = true;
    while (q.pending.length) {
      const records = q.pending.splice(0, chunkLength(q.pending));
      const waiters = q.pending.length ? [] : q.waiters.splice(0);
      try {
        await this.producer.send({
          topic,
          acks: -1,
          compression: CompressionTypes.None,
          messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
        });
        for (const w of waiters) w.resolve();
      } catch (e) {
        const error = new AppError("bus_publish_failed", `kafka publish to ${topic}: ${(e as Error).message}`, { status: 503, retriable: true, cause: e });
        for (const w of [...waiters, ...q.waiters.splice(0)]) w.reject(error);
        q.pending.length = 0;
      }
    }
    q.sending = false;
  }

  async subscribe(opts: SubscribeOptions): Promise<Subscription> {
    const consumer = this.kafka.consumer({ groupId: opts.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 50, ...(this.opts.maxBytesPerPartition ? { maxBytesPerPartition: this.opts.maxBytesPerPartition } : {}), sessionTimeout: this.opts.sessionTimeoutMs, heartbeatInterval: Math.max(1000, Math.floor(this.opts.sessionTimeoutMs / 10)) });
    await consumer.connect();
    for (const topic of opts.topics) await consumer.subscribe({ topic, fromBeginning: opts.fromBeginning ?? true });
    this.consumers.add(consumer);
    const highWater = new Map<string, string>();
    const position = new Map<string, string>();
    await consumer.run({
      // Offsets are resolved only after the handler resolved; a threshold of 1 commits them right after each batch.
      autoCommit: true,
      autoCommitThreshold: 1,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, this.opts.partitions),
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }) => {
        const k = `${batch.topic}:${batch.partition}`;
        const slice = this.opts.maxBatchRecords ?? batch.messages.length;
        // A fetched batch is handled in slices, each committed before the next: a backlog's results are published and
        // released slice by slice instead of all at the end of a fetch. A slice not started when the partition is
        // revoked is simply not committed, so the next owner gets it (at-least-once is kept).
        for (let from = 0; from < batch.messages.length; from += slice) {
          if (!isRunning() || isStale()) return;
          const messages = batch.messages.slice(from, from + slice);
          const records: InRecord[] = messages.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            timestamp: Number(m.timestamp),
            key: m.key?.toString() ?? "",
            value: m.value?.toString() ?? "",
            headers: headersOf(m.headers),
          }));
          const hb = setInterval(() => heartbeat().catch(() => {}), 2000);
          try {
            await opts.handler(records);
          } finally {
            clearInterval(hb);
          }
          const last = messages[messages.length - 1]!.offset;
          resolveOffset(last);
          await commitOffsetsIfNecessary();
          highWater.set(k, batch.highWatermark);
          position.set(k, String(BigInt(last) + 1n));
        }
      },
    });
    return {
      stop: async () => {
        this.consumers.delete(consumer);
        await consumer.disconnect();
      },
      lag: async () => {
        let lag = 0n;
        for (const [k, hw] of highWater) lag += BigInt(hw) - BigInt(position.get(k) ?? hw);
        return Number(lag);
      },
    };
  }

  async ping(): Promise<boolean> {
    if (!this.connected) return false;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      await admin.listTopics();
      return true;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * Lag of a consumer group per partition, read from the broker (end offset minus committed offset), so it is
   * right even when this process's consumer is stuck or gone. One admin connection is kept for the scrapes.
   */
  async consumerLag(groupId: string, topics: string[]): Promise<LagSample[]> {
    if (!this.lagAdmin) {
      const admin = this.kafka.admin();
      this.lagAdmin = admin.connect().then(() => admin);
      this.lagAdmin.catch(() => (this.lagAdmin = null));
    }
    const admin = await this.lagAdmin;
    const out: LagSample[] = [];
    const committed = await admin.fetchOffsets({ groupId, topics });
    for (const t of committed) {
      const ends = new Map((await admin.fetchTopicOffsets(t.topic)).map((p) => [p.partition, { high: BigInt(p.high), low: BigInt(p.low) }]));
      for (const p of t.partitions) {
        const end = ends.get(p.partition)?.high ?? 0n;
        const low = p.offset === "-1" ? (ends.get(p.partition)?.low ?? 0n) : BigInt(p.offset);
        out.push({ group: groupId, topic: t.topic, partition: String(p.partition), lag: Number(end > low ? end - low : 0n) });
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.disconnect().catch(() => {})));
    this.consumers.clear();
    const lagAdmin = this.lagAdmin;
    this.lagAdmin = null;
    if (lagAdmin) await lagAdmin.then((a) => a.disconnect()).catch(() => {});
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }
}
