/**
 * bench:imap — N mails appended to a fresh Dovecot mailbox, then one EmailProducer syncs them onto the
 * customer-messages topic (Kafka when KAFKA_BROKERS is set, else the in-process bus); mails/s = N / sync time.
 * Then the restart check: N more mails, the producer is cut mid-sync (connection dropped, loop stopped), a new
 * producer resumes from the durable checkpoint, and every mail must be on the topic exactly once.
 * Needs IMAP_* (and DATABASE_URL for PostgreSQL; PGlite otherwise): `eval "$(scripts/services.sh env)"`.
 * Last line: {"mails_per_s":…}.
 */
import { ImapFlow } from "imapflow";
import type { EventBus } from "../src/bus/interface.ts";
import { KafkaBus } from "../src/bus/kafka.ts";
import { MemoryBus } from "../src/bus/memory.ts";
import { EmailProducer, type ImapMailboxOptions } from "../src/channels/email/imap.ts";
import { ChannelStore } from "../src/channels/store.ts";
import { loadConfig } from "../src/config.ts";
import { openPglite, openPostgres } from "../src/db/store.ts";
import { MessagePublisher } from "../src/ingest/publisher.ts";
import { createLogger } from "../src/obs/log.ts";
import { Metrics } from "../src/obs/metrics.ts";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg("n", 1000);
const BATCH = arg("batch", 200);

const env = process.env;
if (!env.IMAP_HOST || !env.IMAP_USER || !env.IMAP_PASSWORD) {
  console.error('bench:imap needs Dovecot: run `scripts/services.sh up imap && eval "$(scripts/services.sh env)"` first');
  process.exit(2);
}
const id = Math.random().toString(36).slice(2, 8);
const topic = `bench-imap-${id}`;
const config = loadConfig({ ...env, LOG_LEVEL: "warn", TOPIC_CUSTOMER_MESSAGES: topic, IMAP_HOST: "", X_BEARER_TOKEN: "", SMTP_HOST: "" });
const log = createLogger(env.BENCH_LOG_LEVEL ?? "warn");
const bus: EventBus = config.kafka ? new KafkaBus(config.kafka, log) : new MemoryBus();
await bus.start([topic]);
const db = config.databaseUrl ? await openPostgres(config.databaseUrl, 4) : await openPglite(null);
const store = new ChannelStore(db.db);
const publisher = new MessagePublisher(bus, topic, config.limits, new Metrics(false));

const seen = new Map<string, number>();
let waiting: { n: number; resolve: () => void } | null = null;
const sub = await bus.subscribe({
  groupId: `bench-imap-obs-${id}`,
  topics: [topic],
  fromBeginning: true,
  handler: async (records) => {
    for (const r of records) {
      const m = JSON.parse(r.value) as { message: { text: string } };
      seen.set(m.message.text, (seen.get(m.message.text) ?? 0) + 1);
    }
    if (waiting && total() >= waiting.n) waiting.resolve();
  },
});
const total = () => [...seen.values()].reduce((a, b) => a + b, 0);
const onTopic = (n: number) => new Promise<void>((resolve) => (total() >= n ? resolve() : (waiting = { n, resolve })));

const client = new ImapFlow({ host: env.IMAP_HOST, port: Number(env.IMAP_PORT ?? 143), secure: false, auth: { user: env.IMAP_USER, pass: env.IMAP_PASSWORD }, logger: false });
await client.connect();
const mailbox = `bench-${id}`;
await client.mailboxCreate(mailbox);
const mail = (i: number) =>
  [
    `From: "Customer ${i}" <customer${i}@example.com>`,
    "To: support@example.test",
    `Subject: Question ${i}`,
    `Message-ID: <bench-${id}-${i}@example.com>`,
    "Date: Tue, 24 Nov 2026 10:00:00 +0000",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    `Hello, this is mail ${i}. My card was declined twice today, what should I do?`,
    "",
    "On Mon, 23 Nov 2026, Support <support@example.test> wrote:",
    "> Thanks for contacting us.",
    "",
  ].join("\r\n");
// Four connections append in parallel: one APPEND waits for Dovecot's fsync, which dominates set-up time.
const appenders = await Promise.all(
  Array.from({ length: 4 }, async () => {
    const c = new ImapFlow({ host: env.IMAP_HOST!, port: Number(env.IMAP_PORT ?? 143), secure: false, auth: { user: env.IMAP_USER!, pass: env.IMAP_PASSWORD! }, logger: false });
    await c.connect();
    return c;
  }),
);
const append = async (from: number, to: number) => {
  await Promise.all(
    appenders.map(async (c, k) => {
      for (let i = from + k; i < to; i += appenders.length) await c.append(mailbox, mail(i));
    }),
  );
};

const options: ImapMailboxOptions = {
  host: env.IMAP_HOST,
  port: Number(env.IMAP_PORT ?? 143),
  secure: false,
  tlsVerify: true,
  user: env.IMAP_USER,
  password: env.IMAP_PASSWORD,
  mailbox,
  processed: { mode: "flag", flag: "\\Seen" },
  idle: true,
  pollMs: 1000,
  resyncMs: 60_000,
  batchSize: BATCH,
  backoff: { baseMs: 50, maxMs: 1000 },
  leaseMs: 30_000,
};

let exitCode = 0;
try {
  await append(0, N);
  const producer = new EmailProducer(options, { publisher, store, limits: config.limits, log, owner: `bench-a-${id}` });
  const t0 = performance.now();
  producer.start();
  await onTopic(N);
  const seconds = (performance.now() - t0) / 1000;
  const rate = N / seconds;

  // Restart check: cut the producer mid-sync, resume with a new one, expect each mail exactly once.
  await append(N, 2 * N);
  const cutAt = N + Math.floor(N / 10);
  await onTopic(cutAt);
  producer.killConnection();
  await producer.stop();
  const beforeRestart = total();
  const resumed = new EmailProducer(options, { publisher, store, limits: config.limits, log, owner: `bench-b-${id}` });
  resumed.start();
  await onTopic(2 * N);
  await resumed.syncNow();
  await resumed.stop();
  const counts = [...seen.values()];
  const exactlyOnce = seen.size === 2 * N && counts.every((c) => c === 1);
  console.log(`bus=${bus.kind} db=${db.kind} batch=${BATCH}`);
  console.log(`ingest: ${N} mails in ${seconds.toFixed(2)} s`);
  console.log(`restart: cut after ${beforeRestart - N} of ${N}, resumed; distinct=${seen.size} expected=${2 * N} duplicates=${counts.filter((c) => c > 1).length} → ${exactlyOnce ? "every mail exactly once" : "FAILED"}`);
  if (!exactlyOnce) exitCode = 1;
  console.log(JSON.stringify({ mails_per_s: Math.round(rate), mails: N, seconds: Number(seconds.toFixed(3)), restart_exactly_once: exactlyOnce, bus: bus.kind, db: db.kind }));
} finally {
  await client.mailboxDelete(mailbox).catch(() => {});
  await client.logout().catch(() => {});
  await Promise.all(appenders.map((c) => c.logout().catch(() => {})));
  await sub.stop();
  await bus.stop();
  await db.close();
}
process.exit(exitCode);
