import type { ApiKey } from "../http/auth.ts";
import type { AbuseSettings } from "../ratelimit/guard.ts";

/** Typed configuration, parsed once by loadConfig (src/config/index.ts): the only place that reads process.env. */
export interface Config {
  env: "development" | "production" | "test";
  /** all: one process does everything; api: HTTP + producers; worker: master (triage, retrieval); drafter: reply drafting. */
  role: "all" | "api" | "worker" | "drafter";
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
    partitions: number;
    /** A consumer that stops heartbeating (a killed worker) loses its partitions to the others after this long. */
    sessionTimeoutMs: number;
    /**
     * Most records handed to a handler at once: a larger fetched batch is handled in slices, each committed when done,
     * so a backlog's results (and their memory) do not pile up for a whole fetch. Unset: the whole fetched batch.
     */
    maxBatchRecords?: number;
    /** Bytes fetched per partition per request (kafkajs maxBytesPerPartition; a larger single record still comes). */
    maxBytesPerPartition?: number;
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
    /** An extractive draft also names the second passage when its cosine is within this of the first's (negative: never). */
    seeAlsoGap: number;
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
    /**
     * Worker threads running the shared encoder, one onnxruntime session each (default 2, the cores of the target
     * box): the event loop stays free while texts are encoded. 0 runs it on the event loop's thread (each run holds it).
     */
    encoderWorkers: number;
    /** onnxruntime intra-op threads per encoder session; null = 1 on worker threads, 2 on the event loop's thread. */
    encoderThreads: number | null;
    /**
     * What the triage heads embed: "cleaned" (default) is the customer's words as retrieval searches them, so one
     * encoder run serves triage and a self-contained retrieval query; "raw" is the whole message (a second run).
     */
    embedText: "cleaned" | "raw";
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
    /** Nice value of the sign-in password checker's thread (Linux); 0 runs checks on Bun's pool at full priority. */
    passwordCheckNice: number;
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
