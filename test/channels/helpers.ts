import { ImapFlow } from "imapflow";
import type { InRecord } from "../../src/bus/interface.ts";
import { MemoryBus } from "../../src/bus/memory.ts";
import { ChannelStore } from "../../src/channels/store.ts";
import { openPglite, openPostgres, type Store } from "../../src/db/store.ts";
import { MessagePublisher } from "../../src/ingest/publisher.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import type { CustomerMessage } from "../../src/schema/message.ts";
import { DEFAULT_LIMITS } from "../../src/schema/message.ts";
import type { ImapMailboxOptions } from "../../src/channels/email/imap.ts";
import { describeWith, rand } from "../support/env.ts";

/** The Dovecot test account exported by `scripts/services.sh env`. */
export const imap = process.env.IMAP_HOST
  ? { host: process.env.IMAP_HOST, port: Number(process.env.IMAP_PORT ?? 143), user: process.env.IMAP_USER ?? "", password: process.env.IMAP_PASSWORD ?? "" }
  : null;

/** describe() for suites that need the real IMAP server (the shared CI guard of test/support/env.ts). */
export function describeImap(name: string, fn: () => void): void {
  describeWith("imap", name, fn);
}

export { rand };

/** PostgreSQL when DATABASE_URL is set (the services script), else embedded PGlite: same schema and migrations. */
export async function openTestStore(): Promise<Store> {
  return process.env.DATABASE_URL ? openPostgres(process.env.DATABASE_URL, 4) : openPglite(null);
}

/** An IMAP client logged in as the test account. */
export async function imapClient(): Promise<ImapFlow> {
  const c = new ImapFlow({ host: imap!.host, port: imap!.port, secure: false, auth: { user: imap!.user, pass: imap!.password }, logger: false });
  await c.connect();
  return c;
}

/** A fresh, uniquely named mailbox; the returned function deletes it. */
export async function tempMailbox(prefix = "t"): Promise<{ path: string; append(raw: string | Buffer): Promise<number>; client: ImapFlow; remove(): Promise<void> }> {
  const client = await imapClient();
  const path = `${prefix}-${rand()}`;
  await client.mailboxCreate(path);
  return {
    path,
    client,
    async append(raw) {
      const r = await client.append(path, raw);
      return r && typeof r === "object" ? Number(r.uid) : 0;
    },
    async remove() {
      await client.mailboxDelete(path).catch(() => {});
      for (const m of await client.list().catch(() => [])) if (m.path.startsWith(`${path}-`) || m.path.startsWith(`${path}.`)) await client.mailboxDelete(m.path).catch(() => {});
      await client.logout().catch(() => {});
    },
  };
}

/** The in-process bus plus a publisher and a collector of everything published to the messages topic. */
export async function busWithCollector(topic = `customer-messages-${rand()}`) {
  const bus = new MemoryBus();
  await bus.start([topic]);
  const publisher = new MessagePublisher(bus, topic, DEFAULT_LIMITS, new Metrics(false));
  const records: InRecord[] = [];
  const waiters = new Set<() => void>();
  const sub = await bus.subscribe({
    groupId: `collector-${rand()}`,
    topics: [topic],
    handler: async (batch) => {
      records.push(...batch);
      for (const w of waiters) w();
    },
  });
  const messages = () => records.map((r) => JSON.parse(r.value) as CustomerMessage);
  /** Resolves when at least n records are on the topic (event-driven; the test timeout bounds it). */
  const waitForCount = (n: number) =>
    new Promise<void>((resolve) => {
      if (records.length >= n) return resolve();
      const w = () => {
        if (records.length >= n) {
          waiters.delete(w);
          resolve();
        }
      };
      waiters.add(w);
    });
  return { bus, topic, publisher, records, messages, waitForCount, async close() { await sub.stop(); await bus.stop(); } };
}

/** A ChannelStore over a test database. */
export function channelStore(store: Store): ChannelStore {
  return new ChannelStore(store.db);
}

/** Builds an RFC 5322 message with CRLF line ends. */
export function rfc5322(headers: Record<string, string>, body: string): string {
  const h = Object.entries({ "MIME-Version": "1.0", Date: "Tue, 24 Nov 2026 10:00:00 +0000", ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `${h.join("\r\n")}\r\n\r\n${body.replace(/\r?\n/g, "\r\n")}`;
}

/** Producer options for the Dovecot test account on one mailbox, with fast polling and back-off for tests. */
export function imapOptions(mailbox: string, over: Partial<ImapMailboxOptions> = {}): ImapMailboxOptions {
  return {
    host: imap!.host,
    port: imap!.port,
    secure: false,
    tlsVerify: true,
    user: imap!.user,
    password: imap!.password,
    mailbox,
    processed: { mode: "flag", flag: "\\Seen" },
    idle: true,
    pollMs: 200,
    resyncMs: 60_000,
    batchSize: 50,
    backoff: { baseMs: 20, maxMs: 200 },
    leaseMs: 10_000,
    ...over,
  };
}
