import { join } from "node:path";
import { MasterAgent } from "./agents/master.ts";
import type { Agent } from "./agents/types.ts";
import type { EventBus, Subscription } from "./bus/interface.ts";
import { draftReviewRoutes, relayReplyStream, ReplyApprovals, ReplyStreamHub } from "./agents/response/index.ts";
import { KafkaBus } from "./bus/kafka.ts";
import { MemoryBus } from "./bus/memory.ts";
import { consumerGroups, type Config } from "./config.ts";
import { openPglite, openPostgres, type Store } from "./db/store.ts";
import { cipherFromConfig, PrivacyService } from "./privacy/index.ts";
import { buildApp, type ReadinessCheck } from "./http/app.ts";
import { createDashboard, type Dashboard, type DashboardDeps } from "./dashboard/index.ts";
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
import type { RateLimiter } from "./ratelimit/interface.ts";
import { MemoryRateLimiter } from "./ratelimit/memory.ts";
import { RedisRateLimiter } from "./ratelimit/redis.ts";
import { AbuseGuard } from "./ratelimit/guard.ts";
import { Outbox } from "./outbox/outbox.ts";

/** How long a stopping process keeps publishing outbox rows that are still pending. */
const OUTBOX_DRAIN_MS = 5000;

/** The channels module, imported only where the hub runs: its IMAP, MIME and SMTP libraries are ~17 MB of memory. */
let channelsModule: Promise<typeof import("./channels/index.ts")> | null = null;
const loadChannels = () => (channelsModule ??= import("./channels/index.ts"));

/** The long-lived parts of one process, chosen from config: real services when configured, embedded otherwise. */
export interface Parts {
  config: Config;
  log: Logger;
  metrics: Metrics;
  bus: EventBus;
  store: Store;
  sessions: SessionStore;
  /** Abuse limits' counters: Redis (shared by replicas) when REDIS_URL is set, else in this process. */
  limiter: RateLimiter;
  /** The transactional outbox of this process (its relay runs while the service runs). */
  outbox?: Outbox;
  /** Per-partition lag of a consumer group, when the bus can ask its broker (Kafka). */
  consumerLag?: (groupId: string, topics: string[]) => Promise<LagSample[]>;
}

/** Opens the bus, database and session store named by config (Kafka/Postgres/Redis or embedded). */
export async function openParts(config: Config, opts: { log?: Logger; metrics?: Metrics } = {}): Promise<Parts> {
  const log = opts.log ?? createLogger(config.logLevel);
  const metrics = opts.metrics ?? new Metrics();
  // Loads while the connections below open, where it will be needed.
  if (config.role === "all" || config.role === "api") void loadChannels();
  initTracing(config.telemetry, log);
  await initSentry(config.telemetry, `${pkg.name}@${pkg.version}`, log);
  const kafka = config.kafka ? new KafkaBus(config.kafka, log, config.resilience.publishQueueMax) : null;
  const bus: EventBus = traceBus(kafka ?? new MemoryBus());
  await bus.start([config.topics.messages, config.topics.responses, config.topics.dlq, config.topics.stream]);
  const cipher = cipherFromConfig(config.privacy, log);
  const rawStore = config.databaseUrl ? await openPostgres(config.databaseUrl, 10, cipher) : await openPglite(config.pgliteDir, cipher);
  // Every database and Redis call is timed (copilot_postgres/redis_call_duration_seconds) and traced as a client span.
  const store = instrument(rawStore, { name: "db", histogram: metrics.postgresLatency, labels: { driver: rawStore.kind }, attributes: { "db.system": "postgresql" }, skip: ["ping"] });
  const sessions: SessionStore = config.redisUrl
    ? instrument(new RedisSessionStore(config.redisUrl, config.session), { name: "redis", histogram: metrics.redisLatency, attributes: { "db.system": "redis" }, skip: ["ping"] })
    : new MemorySessionStore(config.session);
  let lastFallbackLog = 0;
  const limiter: RateLimiter = config.redisUrl
    ? new RedisRateLimiter(config.redisUrl, {
        onFallback: (e) => {
          if (Date.now() - lastFallbackLog < 60_000) return;
          lastFallbackLog = Date.now();
          log.warn({ component: "ratelimit", err: e.message }, "redis unreachable: abuse limits fall back to this process");
        },
      })
    : new MemoryRateLimiter();
  // Decisions are local until the Redis connection is ready: wait for it (briefly) so limits are shared from the start.
  if (limiter instanceof RedisRateLimiter) await limiter.ping();
  const o = config.outbox;
  const outbox = new Outbox(store.db, bus, { owner: `${config.role}-${process.pid}-${Bun.randomUUIDv7().slice(-8)}`, intervalMs: o.relayIntervalMs, delayMs: o.relayDelayMs, leaseMs: o.leaseMs, keepMs: o.keepHours * 3600_000 }, log);
  log.info({ bus: bus.kind, db: store.kind, sessions: sessions.kind, limiter: limiter.kind, role: config.role }, "parts opened");
  return { config, log, metrics, bus, store, sessions, limiter, outbox, consumerLag: kafka ? (g, t) => kafka.consumerLag(g, t) : undefined };
}

/** A running service: its HTTP app (when the role serves HTTP), master agent (when it consumes) and a stop function. */
export interface Service {
  parts: Parts;
  app: ReturnType<typeof buildApp> | null;
  master: MasterAgent | null;
  hub: ResultHub | null;
  /** The dashboard's long-lived parts (accounts, alerts, live sockets) when this role serves HTTP. */
  dashboard: Dashboard | null;
  publisher: MessagePublisher;
  /** `drainUntil` (epoch ms): keep consuming until the master has nothing left or that moment passes. */
  stop(opts?: { drainUntil?: number }): Promise<void>;
}

/** Wires producers, the master agent with the given workers, the result hub and the HTTP app. */
export async function startService(
  parts: Parts,
  agents: Agent[],
  opts: {
    afterConsumersStopped?: () => Promise<void>;
    /** Test overrides of the dashboard (cheap password hashing, timers, a fake webhook fetch, the models report). */
    dashboard?: Pick<DashboardDeps, "passwordCost" | "spikeCheckMs" | "fetch" | "sessionRecheckMs" | "models">;
  } = {},
): Promise<Service> {
  const { config, log, metrics, bus, store, sessions } = parts;
  const publisher = new MessagePublisher(bus, config.topics.messages, config.limits, metrics);
  parts.outbox?.start();
  const groups = consumerGroups(config);
  let master: MasterAgent | null = null;
  let removeLagSource = () => {};
  // The master consumes where triage runs; a drafter only consumes the published results (its own groups).
  if (config.role === "all" || config.role === "worker") {
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
      retry: { maxAttempts: config.resilience.maxAttempts, baseMs: config.resilience.backoffBaseMs, maxMs: config.resilience.backoffMaxMs },
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
  const privacy = new PrivacyService({ db: store.db, sessions, bus, responsesTopic: config.topics.responses, log });
  // Every replica schedules the purge; the advisory lock lets one of them run it at a time.
  const stopRetention = config.privacy.retentionDays > 0 ? privacy.startRetention(config.privacy.retentionDays, config.privacy.retentionIntervalMinutes * 60_000) : async () => {};
  const checks: ReadinessCheck[] = [
    { name: "bus", check: () => bus.ping() },
    { name: "database", check: () => store.ping() },
    { name: "sessions", check: () => sessions.ping() },
  ];
  const servesApi = config.role === "all" || config.role === "api";
  if (servesApi) {
    hub = new ResultHub(bus, config.topics.responses, groups.hub, log);
    await hub.start();
    // Draft tokens from whichever worker drafts them reach this replica's chat sockets and dashboards.
    replyStream = new ReplyStreamHub(log);
    streamRelay = await relayReplyStream(bus, config.topics.stream, groups.stream, replyStream, log);
  }
  // A worker or drafter serves only /health, /ready and /metrics, so probes and Prometheus reach every consumer.
  const identity = { secret: config.dashboard.widgetIdentitySecret, required: config.dashboard.widgetRequireIdentity, visitorKey: config.visitorIdKey };
  const guard = new AbuseGuard(parts.limiter, config.abuse, metrics, log);
  // Email, social and reply channels run where the hub runs: they produce messages and send approved replies.
  const channels = hub ? (await loadChannels()).startChannels({ config, store, bus, publisher, hub, log, guard, outbox: parts.outbox }) : null;
  // Approved drafts (dashboard or review API) are handed to the reply-back service of their channel.
  const approvals = channels ? new ReplyApprovals({ store, bus, responsesTopic: config.topics.responses, sessions, handoff: channels.replies, log, maxTextChars: config.limits.maxTextChars, outbox: parts.outbox }) : null;
  const dashboard =
    hub && approvals && replyStream
      ? createDashboard({
          store,
          hub,
          settings: config.dashboard,
          role: config.role,
          log,
          metrics,
          consumer: master,
          approvals,
          replyStream,
          guard,
          sessionRecheckMs: config.dashboard.sessionRecheckSeconds * 1000,
          privacy,
          models: { calibrationReport: join(config.models.dir, "intent", "calibration.json") },
          ...opts.dashboard,
        })
      : null;
  const features =
    hub && channels && approvals && replyStream && dashboard
      ? [
          chatRoutes({ publisher, hub, apiKeys: config.apiKeys, metrics, log, identity, replyStream, guard, maxBodyBytes: config.resilience.httpMaxBodyBytes, maxFrameBytes: config.resilience.wsMaxPayloadBytes }),
          ...channels.routes,
          draftReviewRoutes({ approvals, apiKeys: config.apiKeys, guard }),
          dashboard.routes,
          widgetRoutes({ db: store.db, identity, log, guard }),
        ]
      : [];
  const app: Service["app"] = buildApp({ log, metrics, checks, features, metricsToken: config.metricsToken, guard, wsMaxPayloadBytes: config.resilience.wsMaxPayloadBytes });
  if (!config.metricsToken && config.env === "production") log.warn("METRICS_TOKEN is not set: /metrics is readable by anyone who can reach the port");
  if (config.apiKeys.length === 0 && servesApi) log.warn("no API_KEYS configured: POST /api/messages is open (development only)");
  const legacy = config.apiKeys.filter((k) => k.legacy).map((k) => k.name);
  if (legacy.length && servesApi) log.warn({ keys: legacy }, "API_KEYS has plain keys with every scope (deprecated, refused in production): use name:scope1+scope2:secret");
  if (!config.abuse.enabled) log.warn("RATE_LIMITS=off: no abuse limits (development only)");
  return {
    parts,
    app,
    master,
    hub,
    dashboard,
    publisher,
    /**
     * Graceful order: producers stop taking mail and posts (in-flight IMAP batches finish), the master drains what is
     * already on the topic (until `drainUntil`), stops after its in-flight batch is committed, drafting finishes, and
     * only then the reply senders (SMTP, social) and connections stop.
     */
    async stop(stopOpts: { drainUntil?: number } = {}) {
      removeLagSource();
      await stopRetention();
      if (channels) await Promise.all([...channels.email.map((p) => p.stop()), channels.social?.stop()]);
      if (master && stopOpts.drainUntil) {
        while (Date.now() < stopOpts.drainUntil && (master.busy || (await master.lag().catch(() => 0)) > 0)) await Bun.sleep(50);
        log.info({ lag: await master.lag().catch(() => -1) }, "shutdown: master drained");
      }
      await master?.stop();
      log.info("shutdown: master stopped");
      // Workers release their models and flush their streams while the bus is still up.
      await opts.afterConsumersStopped?.();
      log.info("shutdown: workers closed");
      await channels?.stop();
      // Events committed by the stages above are published while the bus is still up (the next process would too).
      // Bounded: rows a broker refuses now stay for the next process's relay instead of holding up the shutdown.
      await parts.outbox?.stop();
      await Promise.race([parts.outbox?.drain().catch(() => 0), Bun.sleep(OUTBOX_DRAIN_MS)]);
      await streamRelay?.stop();
      await hub?.stop();
      await bus.stop();
      await sessions.close();
      await parts.limiter.close();
      await store.close();
      await shutdownTracing();
      await flushSentry();
    },
  };
}
