import type { EnvReader } from "./reader.ts";
import type { Config } from "./types.ts";

/** Session memory, the master agent, the outbox relay, message limits and the bounded failure handling. */
export function pipelineSection(r: EnvReader): Pick<Config, "session" | "master" | "outbox" | "limits" | "resilience"> {
  return {
    session: { ttlSeconds: r.int("SESSION_TTL_SECONDS", 7 * 24 * 3600, 60, 365 * 24 * 3600), maxTurns: r.int("SESSION_MAX_TURNS", 50, 1, 1000) },
    master: {
      workerTimeoutMs: r.int("WORKER_TIMEOUT_MS", 5000, 10, 600_000),
      workerRetries: r.int("WORKER_RETRIES", 2, 0, 10),
      concurrency: r.int("MASTER_CONCURRENCY", 32, 1, 1024),
    },
    outbox: {
      relayIntervalMs: r.int("OUTBOX_RELAY_INTERVAL_MS", 1000, 50, 60_000),
      relayDelayMs: r.int("OUTBOX_RELAY_DELAY_MS", 2000, 0, 600_000),
      leaseMs: r.int("OUTBOX_LEASE_MS", 30_000, 1000, 3_600_000),
      keepHours: r.int("OUTBOX_KEEP_HOURS", 24, 1, 24 * 365),
      sweepGraceMs: r.int("REPLY_SWEEP_GRACE_MS", 30_000, 0, 3_600_000),
      sweepIntervalMs: r.int("REPLY_SWEEP_INTERVAL_MS", 5000, 50, 600_000),
    },
    limits: { maxTextChars: r.int("MAX_TEXT_CHARS", 20_000, 1, 1_000_000), maxAttachments: r.int("MAX_ATTACHMENTS", 20, 0, 1000) },
    resilience: {
      maxAttempts: r.int("MASTER_MAX_ATTEMPTS", 5, 1, 100),
      backoffBaseMs: r.int("MASTER_BACKOFF_BASE_MS", 200, 1, 60_000),
      backoffMaxMs: r.int("MASTER_BACKOFF_MAX_MS", 5000, 1, 600_000),
      httpMaxBodyBytes: r.int("HTTP_MAX_BODY_BYTES", 1024 * 1024, 1024, 256 * 1024 * 1024),
      wsMaxPayloadBytes: r.int("WS_MAX_PAYLOAD_BYTES", 256 * 1024, 1024, 64 * 1024 * 1024),
      publishQueueMax: r.int("PUBLISH_QUEUE_MAX_RECORDS", 10_000, 1, 10_000_000),
      imapMaxMessageBytes: r.int("IMAP_MAX_MESSAGE_BYTES", 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
      shutdownGraceMs: r.int("SHUTDOWN_GRACE_MS", 25_000, 100, 600_000),
    },
  };
}
