import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { MasterAgent } from "../../src/agents/master.ts";
import { loadConfig } from "../../src/config.ts";
import { pastTicketsHandler } from "../../src/agents/registry.ts";
import type { Agent, ResultEvent } from "../../src/agents/types.ts";
import type { InRecord } from "../../src/bus/interface.ts";
import { MemoryBus } from "../../src/bus/memory.ts";
import { alerts, conversations, deadLetters, emailMessages, labelCorrections, messages, outboundReplies, privacyAudit, replyDecisions, results } from "../../src/db/schema.ts";
import { openPglite, openPostgres, type Store } from "../../src/db/store.ts";
import { redactForWebhook } from "../../src/dashboard/alerts.ts";
import { DashboardQueries } from "../../src/dashboard/queries.ts";
import { ok } from "../../src/errors.ts";
import { extractEntities } from "../../src/ml/entities.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { bindCipher, cipherOf, FieldCipher, FIELDS, maskPans, maskPansDeep, PrivacyService } from "../../src/privacy/index.ts";
import { devKeyring, parseKeyring } from "../../src/privacy/keys.ts";
import { rotateKeys } from "../../src/privacy/rotate.ts";
import { openKnowledge, type Knowledge } from "../../src/rag/index.ts";
import type { SessionStore } from "../../src/session/interface.ts";
import { MemorySessionStore } from "../../src/session/memory.ts";
import { RedisSessionStore } from "../../src/session/redis.ts";
import { HashEmbedder } from "../rag/helpers.ts";
import { describeWith, rand, services, testLog } from "../support/env.ts";
import { dumpDatabase, dumpRedis } from "./helpers.ts";

const key = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const ring = (active: string, keys: Record<string, string>, index = key()) => parseKeyring(JSON.stringify({ active, keys, index }));

describe("card numbers are masked (PAN)", () => {
  test("Luhn-valid 13-19 digit cards, spaced or dashed, keep only the last 4 digits", () => {
    expect(maskPans("card 4111111111111111 please")).toBe("card **** **** **** 1111 please");
    expect(maskPans("it is 4111 1111 1111 1111.")).toBe("it is **** **** **** 1111.");
    expect(maskPans("5500-0000-0000-0004 and amex 3782 822463 10005")).toBe("**** **** **** 0004 and amex **** **** **** 0005");
    expect(maskPans("visa13 4222222222222 ok")).toBe("visa13 **** **** **** 2222 ok");
    // A card glued to a neighbouring number is still found.
    expect(maskPans("card 4111111111111111 17 times")).toBe("card **** **** **** 1111 17 times");
    expect(maskPans("19 digits 6011000990139424009")).not.toContain("6011000990139424009");
    // Not cards: order numbers, phone numbers, a long non-Luhn id.
    expect(maskPans("order #1234, call +44 20 7946 0958, ref 1234567890123")).toBe("order #1234, call +44 20 7946 0958, ref 1234567890123");
  });

  test("deep masking reaches every string of a JSON value, keys included", () => {
    const v = maskPansDeep({ a: ["x 4111111111111111"], b: { "4111111111111111": 1, n: 4 }, c: null });
    expect(JSON.stringify(v)).not.toContain("4111111111111111");
    expect(v.b.n).toBe(4);
    expect(v.c).toBeNull();
  });

  test("the alert webhook copy has no card, email, phone nor the customer's name", () => {
    const text = "Zed Quux wrote: card 4111 1111 1111 1111, mail zed@example.com, phone +44 7700 900123";
    const out = redactForWebhook(`Urgent ticket from Zed Quux: ${text}`, "Zed Quux");
    for (const s of ["4111", "zed@example.com", "7700 900123", "Zed Quux"]) expect(out).not.toContain(s);
    expect(out).toContain("a customer");
  });
});

describe("privacy configuration", () => {
  test("production requires DATA_KEYS_FILE; company domains and retention are validated", () => {
    expect(() => loadConfig({ APP_ENV: "production", API_KEYS: "k".repeat(32) })).toThrow(/DATA_KEYS_FILE is required/);
    expect(() => loadConfig({ APP_ENV: "test", EMAIL_COMPANY_DOMAINS: "acme.test,not a domain" })).toThrow(/EMAIL_COMPANY_DOMAINS/);
    expect(() => loadConfig({ APP_ENV: "test", DATA_RETENTION_DAYS: "-1" })).toThrow(/DATA_RETENTION_DAYS/);
    const c = loadConfig({ APP_ENV: "test", EMAIL_COMPANY_DOMAINS: "@Acme.test, mail.acme.test", DATA_RETENTION_DAYS: "90" });
    expect(c.privacy).toMatchObject({ emailCompanyDomains: ["acme.test", "mail.acme.test"], retentionDays: 90, dataKeysFile: null });
  });
});

describe("field encryption (AES-256-GCM envelopes with key ids)", () => {
  test("seals to enc:v1:<kid>:<iv>:<ct>, opens, randomises the IV, and refuses tampering or another column", () => {
    const c = new FieldCipher(ring("a", { a: key() }));
    const s1 = c.seal("my secret text", FIELDS.messageText)!;
    const s2 = c.seal("my secret text", FIELDS.messageText)!;
    expect(s1).toMatch(/^enc:v1:a:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(s1).not.toBe(s2);
    expect(c.open(s1, FIELDS.messageText)).toBe("my secret text");
    expect(c.seal(null, FIELDS.messageText)).toBeNull();
    expect(c.open("legacy plain", FIELDS.messageText)).toBe("legacy plain");
    const flipped = s1.slice(0, -2) + (s1.endsWith("A") ? "B" : "A") + s1.slice(-1);
    expect(() => c.open(flipped, FIELDS.messageText)).toThrow(/authentication/);
    expect(() => c.open(s1, FIELDS.messageName)).toThrow(/authentication/);
  });

  test("after a rotation the new key seals, the old one still opens; an unknown key id is an error", () => {
    const a = key();
    const old = new FieldCipher(ring("a", { a }));
    const sealed = old.seal("hello", "f")!;
    const rotated = new FieldCipher(ring("b", { a, b: key() }));
    expect(rotated.open(sealed, "f")).toBe("hello");
    expect(rotated.stale(sealed)).toBe(true);
    expect(rotated.seal("x", "f")!.startsWith("enc:v1:b:")).toBe(true);
    expect(() => new FieldCipher(ring("c", { c: key() })).open(sealed, "f")).toThrow(/no key/);
  });

  test("key files are validated, and the development key file is generated once with mode 0600", () => {
    expect(() => parseKeyring(JSON.stringify({ active: "x", keys: { a: key() } }))).toThrow(/active/);
    expect(() => parseKeyring(JSON.stringify({ active: "a", keys: { a: Buffer.alloc(16).toString("base64") } }))).toThrow(/32 bytes/);
    const dir = mkdtempSync(join(tmpdir(), "keys-"));
    try {
      const first = devKeyring(join(dir, "sub", "k.json"));
      expect(first.created).toBe(true);
      expect(statSync(join(dir, "sub", "k.json")).mode & 0o777).toBe(0o600);
      const again = devKeyring(join(dir, "sub", "k.json"));
      expect(again.created).toBe(false);
      expect(again.ring.keys.get(again.ring.active)!.equals(first.ring.keys.get(first.ring.active)!)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const topics = { messages: "in", responses: "out", dlq: "in.dlq" };
const rec = (value: unknown, offset = 0): InRecord => ({ topic: "in", partition: 0, offset: String(offset), timestamp: Date.now(), key: "k", value: typeof value === "string" ? value : JSON.stringify(value) });

/** The data-protection contract on one database + session store pair. */
function contract(open: (c: FieldCipher) => Promise<Store>, openSessions: () => SessionStore, redisUrl: string | null) {
  const tag = rand();
  const k1 = key();
  const indexKey = key();
  const cipher = new FieldCipher(ring("k1", { k1 }, indexKey));
  let store: Store;
  let sessions: SessionStore;
  let knowledge: Knowledge;
  let dataDir: string;
  const bus = new MemoryBus(2, 100, 10);
  const published: ResultEvent[] = [];
  const A = { id: `cust-${tag}`, name: `Zebulon Quade${tag}`, email: `zeb-${tag}@example.com` };
  const B = { id: `other-${tag}`, name: `Olive Other${tag}`, email: `olive-${tag}@example.com` };
  const convA = `chat:${A.id}`;
  const convB = `chat:${B.id}`;
  const textA = `Refund the double charge on 4111 1111 1111 1111 please, reference ${tag}-alpha`;
  const textB = `Where is parcel ${tag}-bravo?`;
  const ids = { a: crypto.randomUUID(), b: crypto.randomUUID() };

  // A worker that (wrongly) echoes the raw text: the master must still keep the card out of rows and events.
  const agents: Agent[] = [
    { name: "entities", run: async (m) => ok({ entities: extractEntities(m.message.text) }) },
    { name: "echo", run: async (m) => ok({ seen: m.message.text }) },
  ];

  beforeAll(async () => {
    store = await open(cipher);
    sessions = openSessions();
    dataDir = mkdtempSync(join(tmpdir(), "privacy-idx-"));
    knowledge = await openKnowledge({ embedder: new HashEmbedder(), dataDir, kbDir: null });
    await bus.start(Object.values(topics));
    await bus.subscribe({ groupId: "obs", topics: ["out"], handler: async (rs) => void published.push(...rs.map((r) => JSON.parse(r.value)).filter((e) => e.type === "message.result")) });
    // The past-tickets consumer, as the worker wires it.
    await bus.subscribe({ groupId: "tickets", topics: ["out"], handler: pastTicketsHandler(knowledge) });
    const master = new MasterAgent({ bus, store, sessions, agents, metrics: new Metrics(false), log: testLog, groupId: `g-${rand()}`, topics, limits: { maxTextChars: 2000, maxAttachments: 2 }, workerTimeoutMs: 2000, workerRetries: 0, concurrency: 2 });
    const now = new Date().toISOString();
    await master.handleBatch([
      rec({ id: ids.a, source: "chat", user: A, message: { text: textA, attachments: [] }, metadata: { received_at: now, conversation_id: convA } }, 1),
      rec({ id: ids.b, source: "chat", user: B, message: { text: textB, attachments: [] }, metadata: { received_at: now, conversation_id: convB } }, 2),
      // An invalid record of A's lands in the dead letters (raw payload kept, card masked).
      rec(`{"id":"x","user":{"id":"${A.id}"},"message":{"text":"card 4111111111111111 ${tag}-alpha"}`, 3),
    ]);
    for (let i = 0; i < 200 && published.length < 2; i++) await Bun.sleep(10);
  }, 60_000);
  afterAll(async () => {
    await bus.stop();
    await knowledge?.close();
    await sessions?.close();
    await store?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test("the card number is nowhere: rows, worker outputs, dead letters, session turns, published events", async () => {
    expect(published.map((e) => e.message_id).sort()).toEqual([ids.a, ids.b].sort());
    const evA = published.find((e) => e.message_id === ids.a)!;
    expect(evA.text).toContain("**** **** **** 1111");
    expect(JSON.stringify(evA)).not.toMatch(/4111[ -]?1111[ -]?1111[ -]?1111/);
    // Only this test's rows: the shared database may hold other suites' data.
    const mine = (dump: string) => dump.split("\n").filter((l) => l.includes(ids.a) || l.includes(tag) || l.includes(convA));
    const rows = mine(await dumpDatabase(store));
    expect(rows.length).toBeGreaterThanOrEqual(4);
    for (const l of rows) expect(l).not.toMatch(/4111[ -]?1111[ -]?1111[ -]?1111/);
    expect(rows.some((l) => l.startsWith("(") && l.includes("**** **** **** 1111"))).toBe(true);
    const session = await sessions.get(convA);
    expect(session.turns[0]!.text).toBe(textA.replace("4111 1111 1111 1111", "**** **** **** 1111"));
    if (redisUrl) {
      const keys = mine(await dumpRedis(redisUrl));
      expect(keys.length).toBeGreaterThanOrEqual(1);
      for (const l of keys) expect(l).not.toMatch(/4111[ -]?1111[ -]?1111[ -]?1111/);
    }
  }, 60_000);

  test("message text, names and emails are sealed at rest and read back through the cipher", async () => {
    const [row] = await store.db.select().from(messages).where(eq(messages.id, ids.a));
    for (const v of [row!.text, row!.customerName, row!.customerEmail]) expect(v!.startsWith("enc:v1:k1:")).toBe(true);
    const [conv] = await store.db.select().from(conversations).where(eq(conversations.id, convA));
    expect(conv!.customerName!.startsWith("enc:v1:k1:")).toBe(true);
    // The messages and conversations tables hold no clear text, name or address (worker outputs are covered by erasure).
    const stored = (await dumpDatabase(store)).split("\n## ").filter((t) => t.startsWith("messages\n") || t.startsWith("conversations\n")).join("\n");
    expect(stored).toContain(A.id);
    for (const s of [A.name, A.email, `${tag}-alpha`, `${tag}-bravo`, B.name, B.email]) expect(stored.includes(s)).toBe(false);
    const loaded = (await store.loadMessages([ids.a])).get(ids.a)!;
    expect(loaded.user).toEqual({ id: A.id, name: A.name, email: A.email });
    expect(loaded.message.text).toContain(`${tag}-alpha`);
    // The dashboard feed decrypts, and its search (over the decrypted window) still finds text and names.
    const q = new DashboardQueries(store.db);
    const feed = await q.feed({ range: "24h", q: `${tag}-ALPHA` } as never);
    expect(feed.map((f) => f.messageId)).toEqual([ids.a]);
    expect(feed[0]!.customerName).toBe(A.name);
    expect((await q.feed({ range: "24h", q: "olive other" + tag } as never)).map((f) => f.messageId)).toEqual([ids.b]);
    // The thread view matches the same customer's other conversations by the email's blind index.
    expect((await q.thread(convA)).map((r) => r.m.id)).toEqual([ids.a]);
  }, 60_000);

  test("keys:rotate re-seals rows under the new active key (and seals legacy plain rows), resumably", async () => {
    // A legacy row written before encryption.
    const legacy = crypto.randomUUID();
    await store.db.insert(messages).values({ id: legacy, conversationId: `legacy-${tag}`, source: "chat", customerId: `legacy-${tag}`, customerEmail: `legacy-${tag}@example.com`, text: `plain legacy ${tag}`, receivedAt: new Date() });
    // The file gains k2 as active and keeps k1; the index key stays. (A separate process runs keys:rotate on PostgreSQL.)
    const next = new FieldCipher(ring("k2", { k1, k2: key() }, indexKey));
    const other = store.kind === "postgres" ? await openPostgres(services.postgres!, 2, next) : null;
    const db = other?.db ?? store.db;
    bindCipher(store.db, next);
    try {
      const first = await rotateKeys(db, { batch: 1 });
      expect(first.messages!.resealed).toBeGreaterThanOrEqual(3);
      // Nothing left to do on a second run (rows of other suites, sealed with keys this file lacks, only fail).
      const again = await rotateKeys(db, { batch: 1 });
      expect([again.messages!.resealed, again.conversations!.resealed, again.label_corrections!.resealed]).toEqual([0, 0, 0]);
      const [row] = await db.select().from(messages).where(eq(messages.id, legacy));
      expect(row!.text.startsWith("enc:v1:k2:")).toBe(true);
      expect(row!.customerEmailIndex).toBe(next.blindIndex(`legacy-${tag}@example.com`, "email"));
      const [a] = await db.select().from(messages).where(eq(messages.id, ids.a));
      expect(a!.text.startsWith("enc:v1:k2:")).toBe(true);
      expect(next.open(a!.text, FIELDS.messageText)).toContain(`${tag}-alpha`);
    } finally {
      await other?.close();
    }
  }, 60_000);

  test("erasing a customer leaves no trace of their id, name, email or text in the database, Redis or the ticket index", async () => {
    const c = cipherOf(store.db);
    // Rows in every other table that can hold the customer's data.
    await store.db.insert(replyDecisions).values({ messageId: ids.a, conversationId: convA, action: "approved", draftText: `Dear ${A.name}`, finalText: `Dear ${A.name}` });
    await store.db.insert(labelCorrections).values({ messageId: ids.a, field: "intent", value: "refund", text: c.seal(textA, FIELDS.correctionText)! });
    await store.db.insert(alerts).values({ ruleId: 1, dedupeKey: `k-${tag}`, kind: "urgency", title: `Urgent from ${A.name}`, detail: "x", messageId: ids.a, conversationId: convA });
    await store.db.insert(outboundReplies).values({ id: crypto.randomUUID(), idempotencyKey: `ik-${tag}`, messageId: ids.a, conversationId: convA, channel: "chat", recipient: { email: A.email }, text: `Hi ${A.name}`, approvedBy: "agent", approvedAt: new Date() });
    await store.db.insert(emailMessages).values({ messageIdHeader: `mid-${tag}@x`, conversationId: convA, direction: "inbound", copilotMessageId: ids.a });
    await knowledge.addPastTicket({ id: ids.a, question: textA, answer: `Refunded, ${A.name}`, conversation_id: convA, resolved_at: new Date().toISOString() });
    await knowledge.addPastTicket({ id: ids.b, question: textB, answer: "On its way", conversation_id: convB, resolved_at: new Date().toISOString() });
    expect(knowledge.stats().tickets.docs).toBe(2);
    expect((await dumpDatabase(store)).includes(A.id)).toBe(true);

    const privacy = new PrivacyService({ db: store.db, sessions, bus, responsesTopic: "out", log: testLog });
    const r = await privacy.eraseCustomer(A.id, "test:admin");
    expect(r.counts).toMatchObject({ messages: 1, results: 1, conversations: 1, reply_decisions: 1, label_corrections: 1, alerts: 1, outbound_replies: 1, email_messages: 1, dead_letters: 1, sessions: 1 });
    for (let i = 0; i < 200 && knowledge.stats().tickets.docs !== 1; i++) await Bun.sleep(10);

    const dump = await dumpDatabase(store);
    for (const s of [A.id, A.name, A.email, `${tag}-alpha`, "Refund the double charge"]) expect(dump.includes(s) ? s : null).toBeNull();
    // The other customer is untouched, and the audit says who and how much, without the id.
    expect((await store.loadMessages([ids.b])).get(ids.b)?.message.text).toBe(textB);
    const [audit] = await store.db.select().from(privacyAudit).where(eq(privacyAudit.id, r.auditId));
    expect(audit).toMatchObject({ action: "erase", actor: "test:admin" });
    expect(JSON.stringify(audit)).not.toContain(A.id);
    expect((await sessions.get(convA)).turns).toEqual([]);
    expect((await sessions.get(convB)).turns).toHaveLength(1);
    if (redisUrl) {
      const redis = await dumpRedis(redisUrl);
      for (const s of [A.id, A.name, A.email, `${tag}-alpha`]) expect(redis.includes(s) ? s : null).toBeNull();
      expect(redis.includes(`${tag}-bravo`)).toBe(true);
    }
    expect(knowledge.stats().tickets.docs).toBe(1);
    const log = readFileSync(join(dataDir, "tickets.jsonl"), "utf8");
    expect(log).not.toContain(ids.a);
    expect(log).toContain(ids.b);
    expect((await knowledge.search(`${tag}-alpha double charge refund`, { all: true })).tickets.map((t) => t.doc_id)).not.toContain(`ticket:${ids.a}`);
  }, 60_000);

  test("retention purges what is older than DATA_RETENTION_DAYS and keeps the rest", async () => {
    const old = new Date(Date.now() - 40 * 86_400_000);
    const oldId = crypto.randomUUID();
    await store.db.insert(messages).values({ id: oldId, conversationId: `old-${tag}`, source: "chat", customerId: `old-${tag}`, text: "old", receivedAt: old });
    await store.db.insert(results).values({ messageId: oldId, conversationId: `old-${tag}`, channel: "chat", outputs: {}, totalMs: 1, timings: {}, createdAt: old });
    await store.db.insert(conversations).values({ id: `old-${tag}`, channel: "chat", customerId: `old-${tag}`, createdAt: old, lastMessageAt: old });
    await store.db.insert(alerts).values({ ruleId: 1, dedupeKey: `old-${tag}`, kind: "urgency", title: "t", detail: "d", createdAt: old });
    await store.db.insert(deadLetters).values({ topic: "in", partition: 0, offset: "1", reason: "r", raw: `old-${tag}`, createdAt: old });
    await knowledge.addPastTicket({ id: oldId, question: "old question", answer: "old answer", conversation_id: `old-${tag}`, resolved_at: old.toISOString() });
    const privacy = new PrivacyService({ db: store.db, sessions, bus, responsesTopic: "out", log: testLog });
    const r = await privacy.purge(30);
    expect(r).not.toBeNull();
    expect(r!.counts.messages).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 200 && knowledge.stats().tickets.docs !== 1; i++) await Bun.sleep(10);
    const dump = await dumpDatabase(store);
    expect(dump.includes(`old-${tag}`)).toBe(false);
    expect(dump.includes(ids.b)).toBe(true);
    expect(knowledge.stats().tickets.docs).toBe(1);
    expect(readFileSync(join(dataDir, "tickets.jsonl"), "utf8")).not.toContain(oldId);
    const audits = await store.db.select().from(privacyAudit).where(eq(privacyAudit.action, "retention"));
    expect(audits.length).toBeGreaterThanOrEqual(1);
  }, 60_000);
}

describe("data protection on PGlite with memory sessions (embedded)", () => contract((c) => openPglite(null, c), () => new MemorySessionStore({ ttlSeconds: 600, maxTurns: 10 }), null));

describeWith("postgres", "data protection on PostgreSQL with Redis sessions (real)", () => {
  if (!services.redis) throw new Error("REDIS_URL is needed with DATABASE_URL for this suite");
  contract((c) => openPostgres(services.postgres!, 4, c), () => new RedisSessionStore(services.redis!, { ttlSeconds: 600, maxTurns: 10 }, `test:privacy:${rand()}:`), services.redis!);

  test("only one replica purges at a time: the advisory lock held elsewhere makes a purge skip", async () => {
    const { default: postgres } = await import("postgres");
    const holder = postgres(services.postgres!, { max: 1, onnotice: () => {} });
    const store = await openPostgres(services.postgres!, 2);
    try {
      const reserved = await holder.reserve();
      await reserved`select pg_advisory_lock(727072)`;
      const privacy = new PrivacyService({ db: store.db, sessions: new MemorySessionStore({ ttlSeconds: 60, maxTurns: 5 }), bus: null, responsesTopic: "out", log: testLog });
      expect(await privacy.purge(30)).toBeNull();
      await reserved`select pg_advisory_unlock(727072)`;
      reserved.release();
      expect(await privacy.purge(30)).not.toBeNull();
    } finally {
      await holder.end({ timeout: 1 });
      await store.close();
    }
  });
});
