import { MasterAgent } from "./agents/master.ts";
import type { Agent } from "./agents/types.ts";
import type { EventBus, Subscription } from "./bus/interface.ts";
import { draftReviewRoutes, relayReplyStream, ReplyApprovals, ReplyStreamHub } from "./agents/response/index.ts";
import { KafkaBus } from "./bus/kafka.ts";
import { MemoryBus } from "./bus/memory.ts";
import { consumerGroups, type Config } from "./config.ts";
import { openPglite, openPostgres, type Store } from "./db/store.ts";
import { buildApp, type ReadinessCheck } from "./http/app.ts";
import { createDashboard } from "./dashboard/index.ts";
import { startChannels } from "./channels/index.ts";
import { chatRoutes } from "./ingest/chat.ts";
import { MessagePublisher } from "./ingest/publisher.ts";
import { createLogger, type Logger } from "./obs/log.ts";
import { instrument } from "./obs/instrument.ts";
import { Metrics, type LagSample } from "./obs/metrics.ts";
import { flushSentry, initSentry } from "./obs/sentry.ts";
import { initTracing, shutdownTracing, traceBus } from "./obs/tracing.ts";
import pkg from "../package.json" with { type: "json" };
import { ResultHub } from "./realtime/hub.ts";
import type { SessionStore } from "./session/interface.ts";
import { MemorySessionStore } from "./session/memory.ts";
import { RedisSessionStore } from "./session/redis.ts";
import { widgetRoutes } from "./widget/routes.ts";
import { Outbox } from "./outbox/outbox.ts";

/** The long-lived parts of one process, chosen from config: real services when configured, embedded otherwise. */
export interface Parts {
  config: Config;
  log: Logger;
  metrics: Metrics;
  bus: EventBus;
  store: Store;
  sessions: SessionStore;
  /** The transactional outbox of this process (its relay runs while the service runs). */
  outbox?: Outbox;
  /** Per-partition lag of a consumer group, when the bus can ask its broker (Kafka). */
  consumerLag?: (groupId: string, topics: string[]) => Promise<LagSample[]>;
}

/** Opens the bus, database and session store named by config (Kafka/Postgres/Redis or embedded). */
export async function openParts(config: Config, opts: { log?: Logger; metrics?: Metrics } = {}): Promise<Parts> {
  const log = opts.log ?? createLogger(config.logLevel);
  const metrics = opts.metrics ?? new Metrics();
  initTracing(config.telemetry, log);
  await initSentry(config.telemetry, `${pkg.name}@${pkg.version}`, log);
  const kafka = config.kafka ? new KafkaBus(config.kafka, log) : null;
  const bus: EventBus = traceBus(kafka ?? new MemoryBus());
  await bus.start([config.topics.messages, config.topics.responses, config.topics.dlq, config.topics.stream]);
  const rawStore = config.databaseUrl ? await openPostgres(config.databaseUrl) : await openPglite(config.pgliteDir);
  // Every database and Redis call is timed (copilot_postgres/redis_call_duration_seconds) and traced as a client span.
  const store = instrument(rawStore, { name: "db", histogram: metrics.postgresLatency, labels: { driver: rawStore.kind }, attributes: { "db.system": "postgresql" }, skip: ["ping"] });
  const sessions: SessionStore = config.redisUrl
    ? instrument(new RedisSessionStore(config.redisUrl, config.session), { name: "redis", histogram: metrics.redisLatency, attributes: { "db.system": "redis" }, skip: ["ping"] })
    : new MemorySessionStore(config.session);
  const o = config.outbox;
  const outbox = new Outbox(store.db, bus, { owner: `${config.role}-${process.pid}-${Bun.randomUUIDv7().slice(-8)}`, intervalMs: o.relayIntervalMs, delayMs: o.relayDelayMs, leaseMs: o.leaseMs, keepMs: o.keepHours * 3600_000 }, log);
  log.info({ bus: bus.kind, db: store.kind, sessions: sessions.kind, role: config.role }, "parts opened");
  return { config, log, metrics, bus, store, sessions, outbox, consumerLag: kafka ? (g, t) => kafka.consumerLag(g, t) : undefined };
}

/** A running service: its HTTP app (when the role serves HTTP), master agent (when it consumes) and a stop function. */
export interface Service {
  parts: Parts;
  app: ReturnType<typeof buildApp> | null;
  master: MasterAgent | null;
  hub: ResultHub | null;
  publisher: MessagePublisher;
  stop(): Promise<void>;
}

/** Wires producers, the master agent with the given workers, the result hub and the HTTP app. */
export async function startService(parts: Parts, agents: Agent[], opts: { afterConsumersStopped?: () => Promise<void> } = {}): Promise<Service> {
  const { config, log, metrics, bus, store, sessions } = parts;
  const publisher = new MessagePublisher(bus, config.topics.messages, config.limits, metrics);
  parts.outbox?.start();
  const groups = consumerGroups(config);
  let master: MasterAgent | null = null;
  let removeLagSource = () => {};
  if (config.role !== "api") {
    master = new MasterAgent({
      bus,
      store,
      sessions,
      agents,
      metrics,
      log,
      groupId: groups.master,
      topics: config.topics,
      limits: config.limits,
      workerTimeoutMs: config.master.workerTimeoutMs,
      workerRetries: config.master.workerRetries,
      concurrency: config.master.concurrency,
    });
    await master.start();
    const m = master;
    const groupId = groups.master;
    removeLagSource = metrics.addLagSource(
      parts.consumerLag
        ? () => parts.consumerLag!(groupId, [config.topics.messages])
        : async () => [{ group: groupId, topic: config.topics.messages, partition: "all", lag: await m.lag() }],
    );
  }
  let hub: ResultHub | null = null;
  let replyStream: ReplyStreamHub | null = null;
  let streamRelay: Subscription | null = null;
  const checks: ReadinessCheck[] = [
    { name: "bus", check: () => bus.ping() },
    { name: "database", check: () => store.ping() },
    { name: "sessions", check: () => sessions.ping() },
  ];
  if (config.role !== "worker") {
    hub = new ResultHub(bus, config.topics.responses, groups.hub, log);
    await hub.start();
    // Draft tokens from whichever worker drafts them reach this replica's chat sockets and dashboards.
    replyStream = new ReplyStreamHub(log);
    streamRelay = await relayReplyStream(bus, config.topics.stream, groups.stream, replyStream, log);
  }
  // A worker serves only /health, /ready and /metrics, so probes and Prometheus reach every consumer.
  const identity = { secret: config.dashboard.widgetIdentitySecret, required: config.dashboard.widgetRequireIdentity };
  // Email, social and reply channels run where the hub runs: they produce messages and send approved replies.
  const channels = hub ? startChannels({ config, store, bus, publisher, hub, log, outbox: parts.outbox }) : null;
  // Approved drafts (dashboard or review API) are handed to the reply-back service of their channel.
  const approvals = channels ? new ReplyApprovals({ store, bus, responsesTopic: config.topics.responses, sessions, handoff: channels.replies, log, maxTextChars: config.limits.maxTextChars, outbox: parts.outbox }) : null;
  const features =
    hub && channels && approvals && replyStream
      ? [
          chatRoutes({ publisher, hub, apiKeys: config.apiKeys, metrics, log, identity, replyStream }),
          ...channels.routes,
          draftReviewRoutes({ approvals, apiKeys: config.apiKeys }),
          createDashboard({ store, hub, bus, responsesTopic: config.topics.responses, settings: config.dashboard, role: config.role, log, metrics, consumer: master, approvals, replyStream }).routes,
          widgetRoutes({ db: store.db, identity, log }),
        ]
      : [];
  const app: Service["app"] = buildApp({ log, metrics, checks, features, metricsToken: config.metricsToken });
  if (!config.metricsToken && config.env === "production") log.warn("METRICS_TOKEN is not set: /metrics is readable by anyone who can reach the port");
  if (config.apiKeys.length === 0 && config.role !== "worker") log.warn("no API_KEYS configured: POST /api/messages is open (development only)");
  return {
    parts,
    app,
    master,
    hub,
    publisher,
    /** Stops consuming (finishing and committing in-flight batches), then closes every connection. */
    async stop() {
      removeLagSource();
      await channels?.stop();
      await master?.stop();
      // Workers release their models and flush their streams while the bus is still up.
      await opts.afterConsumersStopped?.();
      // Events committed by the stages above are published while the bus is still up (the next process would too).
      await parts.outbox?.stop();
      await parts.outbox?.drain().catch(() => 0);
      await streamRelay?.stop();
      await hub?.stop();
      await bus.stop();
      await sessions.close();
      await store.close();
      await shutdownTracing();
      await flushSentry();
    },
  };
}
