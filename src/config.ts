import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { availableParallelism, hostname } from "node:os";
import { parseApiKeys, type ApiKey } from "./http/auth.ts";
import { DEFAULT_ABUSE, RATE_NAMES, type AbuseSettings } from "./ratelimit/guard.ts";
import { DEFAULT_VISITOR_KEY } from "./widget/identity.ts";

/** Raised once at start-up when the environment is invalid; main prints it and exits. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/** Typed configuration; the only place that reads process.env. */
export interface Config {
  env: "development" | "production" | "test";
  /** `all` runs HTTP + consumers; `api` only HTTP and producers; `worker` only the master agent (scale-out). */
  role: "all" | "api" | "worker";
  http: { host: string; port: number };
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  /** Named, scoped API keys; an empty list means the APIs are open (allowed only outside production). */
  apiKeys: ApiKey[];
  /** Abuse limits: rates per IP/visitor/key/account (GCRA), socket and in-flight caps, trusted proxies (src/ratelimit). */
  abuse: AbuseSettings;
  /** Server key of the HMAC that turns an anonymous visitor's browser secret into its public conversation id. */
  visitorIdKey: string;
  /** Bearer token Prometheus must present on /metrics; null leaves /metrics open (keep it on an internal network). */
  metricsToken: string | null;
  kafka: {
    brokers: string[];
    clientId: string;
    groupId: string;
    ssl: boolean;
    sslCaFile?: string;
    sasl?: { mechanism: "scram-sha-512" | "scram-sha-256" | "plain"; username: string; password: string };
    topics: Config["topics"];
    partitions: number;
    /** A consumer that stops heartbeating (a killed worker) loses its partitions to the others after this long. */
    sessionTimeoutMs: number;
  } | null;
  redisUrl: string | null;
  databaseUrl: string | null;
  /** PGlite data folder for the embedded database; null keeps it in memory. */
  pgliteDir: string | null;
  ollama: { host: string; model: string } | null;
  /** Reply generation: which generator, Ollama client tuning, the embedded GGUF model, and generation limits. */
  llm: {
    /** `auto`: Ollama when OLLAMA_HOST is set, else no model (drafts composed from the KB); `embedded`: the local GGUF. */
    generator: "auto" | "ollama" | "embedded" | "none";
    ollamaKeepAlive: string;
    ollamaConnectTimeoutMs: number;
    ollamaFirstTokenTimeoutMs: number;
    ollamaIdleTimeoutMs: number;
    ollamaRetries: number;
    modelPath: string;
    /** Inference threads; the default leaves triage one core (cores - 1, at least 1). */
    threads: number;
    contextSize: number;
    maxTokens: number;
    temperature: number;
    /** Generations that run at once; drafts beyond it wait in the urgency-ordered generation queue. */
    concurrency: number;
    /** Longest a draft waits for the generator before it is drafted without the model (and says so). */
    queueMaxWaitMs: number;
  };
  /** The response agent: voice, memory, time budget and the auto-send rule (draft-only unless enabled). */
  reply: {
    company: string;
    timeoutMs: number;
    recentTurns: number;
    summaryBudgetChars: number;
    templateVersion: string;
    /** Retrieved passages given to the model, and characters kept of each (the part most relevant to the message). */
    maxPassages: number;
    passageChars: number;
    autoSend: { enabled: boolean; intents: string[]; minConfidence: number; channels: string[] };
  };
  session: { ttlSeconds: number; maxTurns: number };
  master: { workerTimeoutMs: number; workerRetries: number; concurrency: number };
  /** The transactional outbox relay and the sweeper of approved replies no hub sent. */
  outbox: { relayIntervalMs: number; relayDelayMs: number; leaseMs: number; keepHours: number; sweepGraceMs: number; sweepIntervalMs: number };
  limits: { maxTextChars: number; maxAttachments: number };
  /** Bounded failure handling (issue 13): master retries and parking, byte limits at every edge, shutdown grace. */
  resilience: {
    /** Attempts of a retriable persist failure before the batch is bisected and the failing record parked. */
    maxAttempts: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    /** Largest HTTP request body (REST, webhooks); Bun refuses bigger ones before they are read. */
    httpMaxBodyBytes: number;
    /** Largest chat WebSocket frame. */
    wsMaxPayloadBytes: number;
    /** Records waiting per topic while the bus cannot publish; beyond it producers get a retriable 503. */
    publishQueueMax: number;
    /** Mails larger than this (RFC822.SIZE) are read as their text part(s) plus the attachment list only. */
    imapMaxMessageBytes: number;
    /** Time SIGTERM allows for draining before the process exits anyway. */
    shutdownGraceMs: number;
  };
  /** customer-messages, response-events, the DLQ, and the reply token stream between drafting workers and API replicas. */
  topics: { messages: string; responses: string; dlq: string; stream: string };
  /** Local models (ONNX encoder, classifier heads, catalogue) and the knowledge index. */
  models: {
    dir: string;
    /** How often services poll models/<task>/current for a promoted or rolled-back head (ms; 0 = never). */
    pollMs: number;
  };
  rag: {
    dataDir: string;
    kbDir: string | null;
    M: number;
    efConstruction: number;
    efSearch: number;
    threshold: number;
    /**
     * Answerability head (JSON): default `models/answerability/default.json`, trained on several KBs (not StackFAQ) by
     * `bun run train:answerability` to transfer to a KB it has never seen; `none` (null) = the similarity threshold
     * alone decides when the knowledge agent abstains.
     */
    answerabilityHead: string | null;
  };
  /** Dashboard sign-in, alert delivery and the customer chat widget's identity tokens. */
  dashboard: {
    /** Secure (HTTPS-only) session cookies; on by default in production. */
    cookieSecure: boolean;
    sessionTtlHours: number;
    /** How often open dashboard sockets are re-checked against their sessions (revoked/disabled → closed). */
    sessionRecheckSeconds: number;
    alertWebhookUrl: string | null;
    /** Signs webhook bodies (X-Copilot-Signature: sha256=<hex HMAC>). */
    alertWebhookSecret: string | null;
    /** HMAC secret shared with the company's site to sign widget identity tokens; null allows anonymous visitors only. */
    widgetIdentitySecret: string | null;
    /** Refuse anonymous widget visitors (identity token required). */
    widgetRequireIdentity: boolean;
    /** Admin created at start-up when the user table is empty (the embedded in-memory database has no CLI access). */
    bootstrapAdmin: { email: string; password: string } | null;
  };
  /** Customer channels beyond chat: IMAP mailboxes, SMTP replies, X, signed social webhooks, the reply service. */
  channels: {
    imap: {
      host: string;
      port: number;
      secure: boolean;
      tlsVerify: boolean;
      user: string;
      password: string;
      mailboxes: string[];
      processed: { mode: "flag"; flag: string } | { mode: "move"; mailbox: string } | { mode: "none" };
      idle: boolean;
      pollSeconds: number;
      batchSize: number;
    } | null;
    smtp: { host: string; port: number; secure: boolean; tlsVerify: boolean; user: string | null; password: string | null; from: string } | null;
    x: { baseUrl: string; bearerToken: string; userId: string; pollSeconds: number; mentions: boolean; dms: boolean } | null;
    /** Signed webhook sources: name → secrets (any verifies; two during rotation) and optional reply callback URL. */
    webhooks: { secrets: Record<string, string[]>; replyUrls: Record<string, string>; toleranceSeconds: number };
    replies: { maxAttempts: number; autoSend: boolean };
  };
  /** Customer data protection: field encryption keys, retention, and who may join an email thread. */
  privacy: {
    /** JSON key file `{active, keys: {kid: base64 32 bytes}, index?}`; null in development means a generated file under .data/. */
    dataKeysFile: string | null;
    /** Where the development key file is generated when DATA_KEYS_FILE is unset (never used in production). */
    devKeysFile: string;
    /** Messages, results, replies, alerts, dead letters and past tickets older than this are purged; 0 keeps everything. */
    retentionDays: number;
    /** How often one replica (advisory lock) runs the retention purge. */
    retentionIntervalMinutes: number;
    /** Mail from these domains may join any thread it replies to (the company's own staff). */
    emailCompanyDomains: string[];
  };
  /** Tracing and error reporting; each is off unless its endpoint or DSN is set. */
  telemetry: {
    serviceName: string;
    /** OTLP/HTTP base URL (the exporter appends /v1/traces) or null for no tracing export. */
    otlpEndpoint: string | null;
    /** Extra OTLP headers (e.g. an auth token), parsed from `k=v,k2=v2`. */
    otlpHeaders: Record<string, string>;
    sampleRatio: number;
    sentryDsn: string | null;
    sentryEnvironment: string;
  };
}

type Env = Record<string, string | undefined>;

/**
 * Consumer-group names of this deployment: the master's group, and derived groups for the other consumers. `shared`
 * groups split the work between replicas; `perProcess` ones see every record in each process (fan-out to sockets).
 */
export function consumerGroups(c: Pick<Config, "kafka">) {
  const base = c.kafka?.groupId ?? "support-copilot-master";
  const me = `${hostname()}-${process.pid}`;
  return {
    master: base,
    drafting: `${base}-drafting`,
    /** Per host (not per process): a restarted worker resumes its past-ticket collection where it stopped. */
    pastTickets: `${base}-past-tickets-${hostname()}`,
    hub: `${base}-hub-${me}`,
    stream: `${base}-stream-${me}`,
    supersede: `${base}-supersede-${me}`,
  };
}

/** Reads NAME or the file named by NAME_FILE (Docker/Kubernetes secrets). */
export function secret(env: Env, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) return readFileSync(file, "utf8").trim();
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

/** Parses and validates the environment once; collects every problem before failing. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const str = (name: string, def: string): string => {
    const v = env[name];
    return v === undefined || v === "" ? def : v;
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be an integer in [${min}, ${max}]`);
      return def;
    }
    return n;
  };
  const num = (name: string, def: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be a number in [${min}, ${max}]`);
      return def;
    }
    return n;
  };
  const oneOf = <T extends string>(name: string, def: T, allowed: readonly T[]): T => {
    const v = str(name, def);
    if (!(allowed as readonly string[]).includes(v)) {
      problems.push(`${name}=${JSON.stringify(v)} must be one of ${allowed.join(", ")}`);
      return def;
    }
    return v as T;
  };
  const url = (name: string, protocols: string[]): string | null => {
    let v: string | undefined;
    try {
      v = secret(env, name);
    } catch (e) {
      problems.push(`${name}_FILE cannot be read: ${(e as Error).message}`);
      return null;
    }
    if (!v) return null;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) problems.push(`${name} must use ${protocols.join(" or ")} (got ${u.protocol})`);
    } catch {
      problems.push(`${name} is not a valid URL`);
    }
    return v;
  };

  const appEnv = oneOf("APP_ENV", "development", ["development", "production", "test"] as const);
  const topics = {
    messages: str("TOPIC_CUSTOMER_MESSAGES", "customer-messages"),
    responses: str("TOPIC_RESPONSE_EVENTS", "response-events"),
    dlq: str("TOPIC_DLQ", `${str("TOPIC_CUSTOMER_MESSAGES", "customer-messages")}.dlq`),
    stream: str("TOPIC_REPLY_STREAM", "reply-stream"),
  };
  for (const [k, v] of Object.entries(topics)) {
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(v)) problems.push(`topic ${k}=${JSON.stringify(v)} is not a valid Kafka topic name`);
  }

  let kafka: Config["kafka"] = null;
  const brokers = str("KAFKA_BROKERS", "");
  if (brokers) {
    const list = brokers.split(",").map((b) => b.trim()).filter(Boolean);
    for (const b of list) if (!/^[^\s:]+:\d{1,5}$/.test(b)) problems.push(`KAFKA_BROKERS entry ${JSON.stringify(b)} must be host:port`);
    const mech = str("KAFKA_SASL_MECHANISM", "");
    let sasl: NonNullable<Config["kafka"]>["sasl"];
    if (mech) {
      const m = oneOf("KAFKA_SASL_MECHANISM", "scram-sha-512", ["scram-sha-512", "scram-sha-256", "plain"] as const);
      const username = secret(env, "KAFKA_SASL_USERNAME");
      const password = secret(env, "KAFKA_SASL_PASSWORD");
      if (!username || !password) problems.push("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or *_FILE) are required with KAFKA_SASL_MECHANISM");
      sasl = { mechanism: m, username: username ?? "", password: password ?? "" };
    }
    kafka = {
      brokers: list,
      clientId: str("KAFKA_CLIENT_ID", "support-copilot"),
      groupId: str("KAFKA_GROUP_ID", "support-copilot-master"),
      ssl: oneOf("KAFKA_SSL", "false", ["true", "false"] as const) === "true",
      sslCaFile: env.KAFKA_SSL_CA_FILE || undefined,
      sasl,
      topics,
      partitions: int("KAFKA_PARTITIONS", 6, 1, 1000),
      // The broker's group.min/max.session.timeout.ms (6 s / 30 min by default) bound this.
      sessionTimeoutMs: int("KAFKA_SESSION_TIMEOUT_MS", 10_000, 6_000, 1_800_000),
    };
  }

  let apiKeys: ApiKey[] = [];
  try {
    const parsed = parseApiKeys(secret(env, "API_KEYS") ?? "");
    apiKeys = parsed.keys;
    problems.push(...parsed.problems);
  } catch (e) {
    problems.push(`API_KEYS_FILE cannot be read: ${(e as Error).message}`);
  }
  if (appEnv === "production" && apiKeys.length === 0) problems.push("API_KEYS (or API_KEYS_FILE) is required when APP_ENV=production");
  // A plain key can do everything (ingest, approve, send any text): refused in production, a warning elsewhere (runtime).
  if (appEnv === "production" && apiKeys.some((k) => k.legacy)) problems.push("API_KEYS: plain keys (all scopes) are refused when APP_ENV=production; use name:scope1+scope2:secret");

  // Abuse limits: RATE_LIMIT_<NAME>=<count>/<window> (window like 60s, 15m, 1h), GCRA: a burst of <count>, refilled over <window>.
  const rates = { ...DEFAULT_ABUSE.rates };
  for (const name of RATE_NAMES) {
    const key = `RATE_LIMIT_${name.toUpperCase()}`;
    const raw = env[key];
    if (raw === undefined || raw === "") continue;
    const m = /^(\d{1,9})\/(\d{0,9})(ms|s|m|h)$/.exec(raw.trim());
    const limit = m ? Number(m[1]) : 0;
    const windowMs = m ? (m[2] ? Number(m[2]) : 1) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[3] as "ms" | "s" | "m" | "h"] : 0;
    if (!m || limit < 1 || windowMs < 1) problems.push(`${key}=${JSON.stringify(raw)} must be <count>/<window>, e.g. 30/1m or 20/15m`);
    else rates[name] = { limit, windowMs };
  }
  const trustedProxies = str("TRUSTED_PROXIES", "").split(",").map((x) => x.trim()).filter(Boolean);
  for (const p of trustedProxies) {
    const [addr, bits] = p.split("/");
    const v = isIP(addr ?? "");
    if (!v || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128)))) problems.push(`TRUSTED_PROXIES entry ${JSON.stringify(p)} must be an IP address or CIDR`);
  }
  const abuse: AbuseSettings = {
    enabled: oneOf("RATE_LIMITS", "on", ["on", "off"] as const) === "on",
    trustedProxies,
    rates,
    socketsPerIp: int("MAX_SOCKETS_PER_IP", DEFAULT_ABUSE.socketsPerIp, 1, 100_000),
    inFlightPerSocket: int("MAX_IN_FLIGHT_PER_SOCKET", DEFAULT_ABUSE.inFlightPerSocket, 1, 1000),
    abusiveRefusals: int("CHAT_ABUSE_CLOSE_AFTER", DEFAULT_ABUSE.abusiveRefusals, 1, 100_000),
    penaltyBoxMs: int("RATE_LIMIT_PENALTY_BOX_MS", DEFAULT_ABUSE.penaltyBoxMs, 0, 60_000),
  };
  if (appEnv === "production" && !abuse.enabled) problems.push("RATE_LIMITS=off is refused when APP_ENV=production");
  let visitorIdKey = DEFAULT_VISITOR_KEY;
  try {
    visitorIdKey = secret(env, "VISITOR_ID_KEY") ?? DEFAULT_VISITOR_KEY;
  } catch (e) {
    problems.push(`VISITOR_ID_KEY_FILE cannot be read: ${(e as Error).message}`);
  }
  if (visitorIdKey !== DEFAULT_VISITOR_KEY && visitorIdKey.length < 32) problems.push("VISITOR_ID_KEY must be at least 32 characters");

  const ollamaHost = url("OLLAMA_HOST", ["http:", "https:"]);
  const otlpBase = url("OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]);
  const otlpTraces = url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ["http:", "https:"]);
  const otlpHeaders: Record<string, string> = {};
  try {
    for (const pair of (secret(env, "OTEL_EXPORTER_OTLP_HEADERS") ?? "").split(",").filter((p) => p.trim())) {
      const eq = pair.indexOf("=");
      if (eq <= 0) problems.push("OTEL_EXPORTER_OTLP_HEADERS must be k=v pairs separated by commas");
      else otlpHeaders[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
    }
  } catch (e) {
    problems.push(`OTEL_EXPORTER_OTLP_HEADERS_FILE cannot be read: ${(e as Error).message}`);
  }
  const sampleRaw = str("OTEL_TRACES_SAMPLER_ARG", "1");
  const sampleRatio = Number(sampleRaw);
  if (!(sampleRatio >= 0 && sampleRatio <= 1)) problems.push(`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(sampleRaw)} must be a number in [0, 1]`);
  const sentryDsn = url("SENTRY_DSN", ["http:", "https:"]);

  const config: Config = {
    env: appEnv,
    role: oneOf("ROLE", "all", ["all", "api", "worker"] as const),
    http: { host: str("HOST", "127.0.0.1"), port: int("PORT", 3000, 0, 65535) },
    logLevel: oneOf("LOG_LEVEL", appEnv === "test" ? "warn" : "info", ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const),
    apiKeys,
    abuse,
    visitorIdKey,
    metricsToken: (() => {
      try {
        return secret(env, "METRICS_TOKEN") ?? null;
      } catch (e) {
        problems.push(`METRICS_TOKEN_FILE cannot be read: ${(e as Error).message}`);
        return null;
      }
    })(),
    kafka,
    redisUrl: url("REDIS_URL", ["redis:", "rediss:"]),
    databaseUrl: url("DATABASE_URL", ["postgres:", "postgresql:"]),
    pgliteDir: env.PGLITE_DIR || null,
    models: {
      dir: str("MODELS_DIR", "models"),
      pollMs: num("MODELS_POLL_MS", 5000, 0, 3_600_000),
    },
    rag: {
      dataDir: str("RAG_DATA_DIR", ".data/index"),
      kbDir: str("RAG_KB_DIR", "kb") === "none" ? null : str("RAG_KB_DIR", "kb"),
      M: int("RAG_HNSW_M", 16, 4, 128),
      efConstruction: int("RAG_HNSW_EF_CONSTRUCTION", 200, 16, 2000),
      efSearch: int("RAG_HNSW_EF_SEARCH", 64, 10, 2000),
      threshold: num("RAG_ABSTAIN_THRESHOLD", 0.62, -1, 1),
      answerabilityHead: ((v) => (v === "none" ? null : v))(str("RAG_ANSWERABILITY_HEAD", "models/answerability/default.json")),
    },
    ollama: ollamaHost ? { host: ollamaHost, model: str("OLLAMA_MODEL", "support-copilot") } : null,
    llm: {
      generator: oneOf("LLM_GENERATOR", "auto", ["auto", "ollama", "embedded", "none"] as const),
      ollamaKeepAlive: str("OLLAMA_KEEP_ALIVE", "30m"),
      ollamaConnectTimeoutMs: int("OLLAMA_CONNECT_TIMEOUT_MS", 5000, 100, 600_000),
      ollamaFirstTokenTimeoutMs: int("OLLAMA_FIRST_TOKEN_TIMEOUT_MS", 30_000, 100, 600_000),
      ollamaIdleTimeoutMs: int("OLLAMA_IDLE_TIMEOUT_MS", 10_000, 100, 600_000),
      ollamaRetries: int("OLLAMA_RETRIES", 2, 0, 10),
      modelPath: str("LLM_MODEL_PATH", "models/llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
      threads: int("LLM_THREADS", Math.max(1, availableParallelism() - 1), 1, 256),
      contextSize: int("LLM_CONTEXT_SIZE", 2048, 512, 131_072),
      maxTokens: int("LLM_MAX_TOKENS", 200, 8, 8192),
      temperature: num("LLM_TEMPERATURE", 0.2, 0, 2),
      concurrency: int("LLM_CONCURRENCY", 1, 1, 64),
      queueMaxWaitMs: int("LLM_QUEUE_MAX_WAIT_MS", 300_000, 0, 3_600_000),
    },
    reply: {
      company: str("REPLY_COMPANY", "Northwind Bank"),
      timeoutMs: int("REPLY_TIMEOUT_MS", 60_000, 500, 600_000),
      recentTurns: int("REPLY_RECENT_TURNS", 6, 0, 100),
      summaryBudgetChars: int("REPLY_SUMMARY_BUDGET_CHARS", 1200, 100, 100_000),
      templateVersion: str("REPLY_TEMPLATE_VERSION", "v2"),
      maxPassages: int("REPLY_MAX_PASSAGES", 2, 1, 10),
      passageChars: int("REPLY_PASSAGE_CHARS", 300, 80, 10_000),
      autoSend: {
        enabled: oneOf("AUTO_SEND", "false", ["true", "false"] as const) === "true",
        intents: str("AUTO_SEND_INTENTS", "").split(",").map((x) => x.trim()).filter(Boolean),
        minConfidence: num("AUTO_SEND_MIN_CONFIDENCE", 0.85, 0, 1),
        channels: str("AUTO_SEND_CHANNELS", "chat").split(",").map((x) => x.trim()).filter(Boolean),
      },
    },
    session: { ttlSeconds: int("SESSION_TTL_SECONDS", 7 * 24 * 3600, 60, 365 * 24 * 3600), maxTurns: int("SESSION_MAX_TURNS", 50, 1, 1000) },
    master: {
      workerTimeoutMs: int("WORKER_TIMEOUT_MS", 5000, 10, 600_000),
      workerRetries: int("WORKER_RETRIES", 2, 0, 10),
      concurrency: int("MASTER_CONCURRENCY", 32, 1, 1024),
    },
    outbox: {
      relayIntervalMs: int("OUTBOX_RELAY_INTERVAL_MS", 1000, 50, 60_000),
      relayDelayMs: int("OUTBOX_RELAY_DELAY_MS", 2000, 0, 600_000),
      leaseMs: int("OUTBOX_LEASE_MS", 30_000, 1000, 3_600_000),
      keepHours: int("OUTBOX_KEEP_HOURS", 24, 1, 24 * 365),
      sweepGraceMs: int("REPLY_SWEEP_GRACE_MS", 30_000, 0, 3_600_000),
      sweepIntervalMs: int("REPLY_SWEEP_INTERVAL_MS", 5000, 50, 600_000),
    },
    limits: { maxTextChars: int("MAX_TEXT_CHARS", 20_000, 1, 1_000_000), maxAttachments: int("MAX_ATTACHMENTS", 20, 0, 1000) },
    resilience: {
      maxAttempts: int("MASTER_MAX_ATTEMPTS", 5, 1, 100),
      backoffBaseMs: int("MASTER_BACKOFF_BASE_MS", 200, 1, 60_000),
      backoffMaxMs: int("MASTER_BACKOFF_MAX_MS", 5000, 1, 600_000),
      httpMaxBodyBytes: int("HTTP_MAX_BODY_BYTES", 1024 * 1024, 1024, 256 * 1024 * 1024),
      wsMaxPayloadBytes: int("WS_MAX_PAYLOAD_BYTES", 256 * 1024, 1024, 64 * 1024 * 1024),
      publishQueueMax: int("PUBLISH_QUEUE_MAX_RECORDS", 10_000, 1, 10_000_000),
      imapMaxMessageBytes: int("IMAP_MAX_MESSAGE_BYTES", 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      shutdownGraceMs: int("SHUTDOWN_GRACE_MS", 25_000, 100, 600_000),
    },
    topics,
    telemetry: {
      serviceName: str("OTEL_SERVICE_NAME", "support-copilot"),
      otlpEndpoint: otlpTraces ?? (otlpBase ? `${otlpBase.replace(/\/+$/, "")}/v1/traces` : null),
      otlpHeaders,
      sampleRatio: sampleRatio >= 0 && sampleRatio <= 1 ? sampleRatio : 1,
      sentryDsn,
      sentryEnvironment: str("SENTRY_ENVIRONMENT", appEnv),
    },
    channels: (() => {
      const bool = (name: string, def: boolean) => oneOf(name, def ? "true" : "false", ["true", "false"] as const) === "true";
      const read = (name: string): string | undefined => {
        try {
          return secret(env, name);
        } catch (e) {
          problems.push(`${name}_FILE cannot be read: ${(e as Error).message}`);
          return undefined;
        }
      };
      let imap: Config["channels"]["imap"] = null;
      const imapHost = str("IMAP_HOST", "");
      if (imapHost) {
        const secure = bool("IMAP_SECURE", true);
        const user = str("IMAP_USER", "");
        const password = read("IMAP_PASSWORD") ?? "";
        if (!user || !password) problems.push("IMAP_USER and IMAP_PASSWORD (or IMAP_PASSWORD_FILE) are required with IMAP_HOST");
        const mode = oneOf("IMAP_PROCESSED", "flag", ["flag", "move", "none"] as const);
        imap = {
          host: imapHost,
          port: int("IMAP_PORT", secure ? 993 : 143, 1, 65535),
          secure,
          tlsVerify: bool("IMAP_TLS_VERIFY", true),
          user,
          password,
          mailboxes: str("IMAP_MAILBOXES", "INBOX").split(",").map((m) => m.trim()).filter(Boolean),
          processed: mode === "flag" ? { mode, flag: str("IMAP_PROCESSED_FLAG", "\\Seen") } : mode === "move" ? { mode, mailbox: str("IMAP_PROCESSED_MAILBOX", "Processed") } : { mode },
          idle: bool("IMAP_IDLE", true),
          pollSeconds: int("IMAP_POLL_SECONDS", 60, 1, 3600),
          batchSize: int("IMAP_BATCH_SIZE", 100, 1, 1000),
        };
      }
      let smtp: Config["channels"]["smtp"] = null;
      const smtpHost = str("SMTP_HOST", "");
      if (smtpHost) {
        const secure = bool("SMTP_SECURE", false);
        const from = str("SMTP_FROM", imap?.user ?? "");
        if (!from.includes("@")) problems.push("SMTP_FROM (an email address, optionally with a display name) is required with SMTP_HOST");
        smtp = { host: smtpHost, port: int("SMTP_PORT", secure ? 465 : 587, 1, 65535), secure, tlsVerify: bool("SMTP_TLS_VERIFY", true), user: str("SMTP_USER", "") || null, password: read("SMTP_PASSWORD") ?? null, from };
      }
      let x: Config["channels"]["x"] = null;
      const xToken = read("X_BEARER_TOKEN");
      if (xToken) {
        const userId = str("X_USER_ID", "");
        if (!/^\d{1,20}$/.test(userId)) problems.push("X_USER_ID (the support account's numeric id) is required with X_BEARER_TOKEN");
        x = { baseUrl: url("X_API_BASE", ["http:", "https:"]) ?? "https://api.twitter.com", bearerToken: xToken, userId, pollSeconds: int("X_POLL_SECONDS", 60, 5, 3600), mentions: bool("X_MENTIONS", true), dms: bool("X_DMS", true) };
      }
      const pairs = (name: string): [string, string][] =>
        (read(name) ?? "")
          .split(",")
          .map((p) => p.trim())
          .filter(Boolean)
          .map((p) => {
            const i = p.indexOf("=");
            if (i <= 0) problems.push(`${name} entries must be name=value`);
            return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as [string, string];
          });
      const secrets: Record<string, string[]> = {};
      for (const [name, value] of pairs("SOCIAL_WEBHOOK_SECRETS")) {
        if (!/^[a-z0-9_-]{1,64}$/.test(name)) problems.push(`SOCIAL_WEBHOOK_SECRETS: source name ${JSON.stringify(name)} must be [a-z0-9_-]`);
        const list = value.split("|").filter(Boolean);
        if (list.some((v) => v.length < 16)) problems.push(`SOCIAL_WEBHOOK_SECRETS: every secret of ${name} must be at least 16 characters`);
        secrets[name] = list;
      }
      const replyUrls: Record<string, string> = {};
      for (const [name, value] of pairs("SOCIAL_WEBHOOK_REPLY_URLS")) {
        if (!secrets[name]) problems.push(`SOCIAL_WEBHOOK_REPLY_URLS names ${name}, which has no secret in SOCIAL_WEBHOOK_SECRETS`);
        if (!/^https?:\/\//.test(value)) problems.push(`SOCIAL_WEBHOOK_REPLY_URLS: ${name} must be an http(s) URL`);
        replyUrls[name] = value;
      }
      return {
        imap,
        smtp,
        x,
        webhooks: { secrets, replyUrls, toleranceSeconds: int("SOCIAL_WEBHOOK_TOLERANCE_SECONDS", 300, 5, 3600) },
        replies: { maxAttempts: int("REPLY_MAX_ATTEMPTS", 5, 1, 50), autoSend: bool("REPLY_AUTO_SEND", true) },
      };
    })(),
    privacy: (() => {
      const dataKeysFile = str("DATA_KEYS_FILE", "") || null;
      if (!dataKeysFile && appEnv === "production") problems.push("DATA_KEYS_FILE is required in production (customer data is encrypted at rest)");
      const emailCompanyDomains = str("EMAIL_COMPANY_DOMAINS", "")
        .split(",")
        .map((d) => d.trim().toLowerCase().replace(/^@/, ""))
        .filter(Boolean);
      for (const d of emailCompanyDomains) if (!/^[a-z0-9.-]+\.[a-z]{2,}$/.test(d)) problems.push(`EMAIL_COMPANY_DOMAINS: ${JSON.stringify(d)} is not a domain`);
      return {
        dataKeysFile,
        devKeysFile: str("DATA_KEYS_DEV_FILE", ".data/data-keys.json"),
        retentionDays: int("DATA_RETENTION_DAYS", 0, 0, 36_500),
        retentionIntervalMinutes: int("DATA_RETENTION_INTERVAL_MINUTES", 60, 1, 24 * 60),
        emailCompanyDomains,
      };
    })(),
    dashboard: (() => {
      let widgetIdentitySecret: string | null = null;
      let alertWebhookSecret: string | null = null;
      try {
        widgetIdentitySecret = secret(env, "WIDGET_IDENTITY_SECRET") ?? null;
        alertWebhookSecret = secret(env, "ALERT_WEBHOOK_SECRET") ?? null;
      } catch (e) {
        problems.push(`a dashboard secret file cannot be read: ${(e as Error).message}`);
      }
      if (widgetIdentitySecret !== null && widgetIdentitySecret.length < 32) problems.push("WIDGET_IDENTITY_SECRET must be at least 32 characters");
      const widgetRequireIdentity = oneOf("WIDGET_REQUIRE_IDENTITY", "false", ["true", "false"] as const) === "true";
      if (widgetRequireIdentity && !widgetIdentitySecret) problems.push("WIDGET_REQUIRE_IDENTITY=true needs WIDGET_IDENTITY_SECRET");
      let bootstrapAdmin: { email: string; password: string } | null = null;
      const adminEmail = str("DASHBOARD_ADMIN_EMAIL", "");
      try {
        const adminPassword = secret(env, "DASHBOARD_ADMIN_PASSWORD");
        if (adminEmail && adminPassword) bootstrapAdmin = { email: adminEmail, password: adminPassword };
        else if (adminEmail || adminPassword) problems.push("DASHBOARD_ADMIN_EMAIL and DASHBOARD_ADMIN_PASSWORD (or _FILE) go together");
        if (adminPassword && adminPassword.length < 12) problems.push("DASHBOARD_ADMIN_PASSWORD must be at least 12 characters");
      } catch (e) {
        problems.push(`DASHBOARD_ADMIN_PASSWORD_FILE cannot be read: ${(e as Error).message}`);
      }
      return {
        cookieSecure: oneOf("DASHBOARD_COOKIE_SECURE", appEnv === "production" ? "true" : "false", ["true", "false"] as const) === "true",
        sessionTtlHours: int("DASHBOARD_SESSION_TTL_HOURS", 12, 1, 24 * 30),
        sessionRecheckSeconds: int("DASHBOARD_SESSION_RECHECK_SECONDS", 5, 1, 300),
        alertWebhookUrl: url("ALERT_WEBHOOK_URL", ["http:", "https:"]),
        alertWebhookSecret,
        widgetIdentitySecret,
        widgetRequireIdentity,
        bootstrapAdmin,
      };
    })(),
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}
