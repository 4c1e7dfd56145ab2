import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { simpleParser, type ParsedMail } from "mailparser";
import nodemailer from "nodemailer";
import { SMTPServer } from "smtp-server";
import type { ResultEvent } from "../../src/agents/types.ts";
import { ChatDeliverer, classifySmtp, EmailDeliverer, replySubject, SocialDeliverer } from "../../src/channels/replies/deliverers.ts";
import { ReplyService, type ReplyServiceOptions } from "../../src/channels/replies/service.ts";
import type { OriginalMessage } from "../../src/channels/replies/types.ts";
import { XClient, XReplier } from "../../src/channels/social/x.ts";
import type { ChannelStore } from "../../src/channels/store.ts";
import type { Store } from "../../src/db/store.ts";
import { createLogger } from "../../src/obs/log.ts";
import { ResultHub } from "../../src/realtime/hub.ts";
import { startFakeX } from "./fake-x.ts";
import { busWithCollector, channelStore, openTestStore, rand } from "./helpers.ts";

const log = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");
const opts: ReplyServiceOptions = { maxAttempts: 4, backoff: { baseMs: 1, maxMs: 2 }, retryIntervalMs: 60_000, staleSendingMs: 60_000 };

/** A real SMTP server on 127.0.0.1 (smtp-server) that keeps what it accepts; `refuse` answers the next DATA with a code. */
async function smtpSink() {
  const received: ParsedMail[] = [];
  const refuse: number[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", async () => {
        const code = refuse.shift();
        if (code) {
          const e = Object.assign(new Error(code >= 500 ? "mailbox unavailable" : "try again later"), { responseCode: code });
          return cb(e);
        }
        received.push(await simpleParser(Buffer.concat(chunks)));
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.server.address() as { port: number }).port;
  return { port, received, refuse, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function emailOriginal(tag: string): OriginalMessage {
  return {
    id: crypto.randomUUID(),
    source: "email",
    conversationId: `email:root-${tag}@example.com`,
    user: { id: "ann@example.com", name: "Ann", email: "ann@example.com" },
    metadata: { email: { message_id: `second-${tag}@example.com`, references: [`root-${tag}@example.com`], subject: "Card declined" } },
  };
}

describe("reply service", () => {
  let db: Store;
  let store: ChannelStore;
  let sink: Awaited<ReturnType<typeof smtpSink>>;
  let email: EmailDeliverer;
  beforeAll(async () => {
    db = await openTestStore();
    store = channelStore(db);
    sink = await smtpSink();
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: sink.port, secure: false, ignoreTLS: true, connectionTimeout: 5000 });
    email = new EmailDeliverer(transport, { from: '"Support" <support@example.test>' }, store);
  });
  afterAll(async () => {
    await sink?.close();
    await db?.close();
  });

  test("email reply over SMTP is threaded (In-Reply-To, References, Re:), recorded with approver and status, and its Message-ID threads the answer", async () => {
    const tag = rand();
    const svc = new ReplyService(store, [email], opts, log);
    const original = emailOriginal(tag);
    const before = sink.received.length;
    const row = await svc.send({ messageId: original.id, original, text: "Hi Ann,\nwe unblocked your card.", approvedBy: "agent@example.test" });
    expect(row.status).toBe("sent");
    expect(row.channel).toBe("email");
    expect(row.approvedBy).toBe("agent@example.test");
    expect(row.attempts).toBe(1);
    expect(row.sentAt).toBeInstanceOf(Date);
    expect(sink.received.length).toBe(before + 1);
    const mail = sink.received.at(-1)!;
    expect(mail.subject).toBe("Re: Card declined");
    expect(mail.inReplyTo).toBe(`<second-${tag}@example.com>`);
    expect(mail.references).toEqual([`<root-${tag}@example.com>`, `<second-${tag}@example.com>`]);
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value[0]!.address : null).toBe("ann@example.com");
    expect(mail.from!.value[0]!.address).toBe("support@example.test");
    expect(mail.messageId).toBe(`<${row.externalId}>`);
    expect(mail.text!.trim()).toBe("Hi Ann,\nwe unblocked your card.");
    expect(mail.headers.get("auto-submitted")).toBeUndefined();
    // The customer's answer to this reply will name its Message-ID: it maps to the same conversation.
    const known = await store.knownEmails([row.externalId!]);
    expect(known.get(row.externalId!)).toEqual({ conversationId: original.conversationId, direction: "outbound" });

    // Same idempotency key: the stored reply comes back and nothing is sent again.
    const again = await svc.send({ messageId: original.id, original, text: "Hi Ann,\nwe unblocked your card.", approvedBy: "agent@example.test" });
    expect(again.id).toBe(row.id);
    expect(sink.received.length).toBe(before + 1);
  });

  test("concurrent sends of one reply (two replicas, double click) deliver exactly one email", async () => {
    const svc = new ReplyService(store, [email], opts, log);
    const original = emailOriginal(rand());
    const before = sink.received.length;
    const rows = await Promise.all(Array.from({ length: 5 }, () => svc.send({ messageId: original.id, original, text: "Once only.", approvedBy: "auto" })));
    expect(new Set(rows.map((r) => r.id)).size).toBe(1);
    expect(sink.received.length).toBe(before + 1);
    expect(sink.received.at(-1)!.headers.get("auto-submitted")).toBe("auto-replied");
  });

  test("a 4xx from SMTP is retried later without double-sending; a 5xx fails for good", async () => {
    const svc = new ReplyService(store, [email], opts, log);
    const original = emailOriginal(rand());
    const before = sink.received.length;
    sink.refuse.push(451, 421);
    const first = await svc.send({ messageId: original.id, original, text: "Retry me.", approvedBy: "agent" });
    expect(first.status).toBe("retry");
    expect(first.lastError).toContain("smtp_deferred");
    expect(first.nextAttemptAt).toBeInstanceOf(Date);
    expect(sink.received.length).toBe(before);
    await Bun.sleep(5);
    await svc.retryDue();
    expect((await store.replyById(first.id))!.status).toBe("retry");
    await Bun.sleep(5);
    await svc.retryDue();
    const done = (await store.replyById(first.id))!;
    expect(done.status).toBe("sent");
    expect(done.attempts).toBe(3);
    expect(sink.received.length).toBe(before + 1);
    await svc.retryDue();
    expect(sink.received.length).toBe(before + 1);

    sink.refuse.push(550);
    const other = emailOriginal(rand());
    const failed = await svc.send({ messageId: other.id, original: other, text: "Nope.", approvedBy: "agent" });
    expect(failed.status).toBe("failed");
    expect(failed.lastError).toContain("smtp_rejected");
  });

  test("SMTP errors are classified: refused before DATA is retriable, a connection lost during DATA is 'maybe sent'", () => {
    expect(classifySmtp(Object.assign(new Error("connect ECONNREFUSED"), { code: "ESOCKET", command: "CONN" }))).toMatchObject({ retriable: true, maybeSent: false });
    expect(classifySmtp(Object.assign(new Error("Connection closed"), { code: "ECONNECTION", command: "DATA" }))).toMatchObject({ retriable: true, maybeSent: false });
    expect(classifySmtp(Object.assign(new Error("socket hang up"), { code: "ESOCKET", command: "DATA" }))).toMatchObject({ maybeSent: true });
    expect(classifySmtp(Object.assign(new Error("bad auth"), { code: "EAUTH", responseCode: 535 }))).toMatchObject({ retriable: false });
    expect(replySubject("RE: Card")).toBe("RE: Card");
    expect(replySubject("Aw: Karte")).toBe("Aw: Karte");
    expect(replySubject("")).toBe("Re: your message");
  });

  test("a reply whose send may have happened becomes 'unknown' and is never resent automatically", async () => {
    const flaky = { channel: "email" as const, recipient: () => ({ to: "x@example.com" }), deliver: async () => Promise.reject(classifySmtp(Object.assign(new Error("socket hang up"), { code: "ESOCKET", command: "DATA" }))) };
    const svc = new ReplyService(store, [flaky], opts, log);
    const original = emailOriginal(rand());
    const row = await svc.send({ messageId: original.id, original, text: "Hm.", approvedBy: "agent" });
    expect(row.status).toBe("unknown");
    expect(await svc.retryDue()).toBe(0);
  });

  test("chat replies go out on response-events and reach the conversation's listeners through the result hub", async () => {
    const bus = await busWithCollector();
    const responses = `response-events-${rand()}`;
    await bus.bus.start([responses]);
    const hub = new ResultHub(bus.bus, responses, `hub-${rand()}`, log);
    await hub.start();
    const got: unknown[] = [];
    const conv = `chat:visitor-${rand()}`;
    const arrived = new Promise<void>((resolve) => hub.onConversation(conv, (ev) => (got.push(ev), resolve())));
    try {
      const svc = new ReplyService(store, [new ChatDeliverer(bus.bus, responses)], opts, log);
      const original: OriginalMessage = { id: crypto.randomUUID(), source: "chat", conversationId: conv, user: { id: "visitor" }, metadata: {} };
      const row = await svc.send({ messageId: original.id, original, text: "Your card is unblocked.", approvedBy: "agent-7" });
      expect(row.status).toBe("sent");
      await arrived;
      expect(got[0]).toMatchObject({ type: "reply.sent", reply_id: row.id, conversation_id: conv, text: "Your card is unblocked.", message_id: original.id });
    } finally {
      await hub.stop();
      await bus.close();
    }
  });

  test("social replies go through the network's adapter; a 503 is retried, the row records the posted id", async () => {
    const fake = startFakeX({ token: "t0k", userId: "42" });
    try {
      const social = new SocialDeliverer([new XReplier(new XClient({ baseUrl: fake.url, bearerToken: "t0k", userId: "42", intervalMs: 1000, maxResults: 5, maxPages: 1 }))]);
      const svc = new ReplyService(store, [social], opts, log);
      const original: OriginalMessage = {
        id: crypto.randomUUID(),
        source: "social",
        conversationId: "social:x:777",
        user: { id: "x:11" },
        metadata: { social: { network: "x", kind: "mention", post_id: "778", thread_id: "777", author_id: "11" } },
      };
      fake.quota.failPostsWith = 503;
      const first = await svc.send({ messageId: original.id, original, text: "@ann_ex sorry, fixed now", approvedBy: "agent" });
      expect(first.status).toBe("retry");
      fake.quota.failPostsWith = null;
      await Bun.sleep(5);
      await svc.retryDue();
      const row = (await store.replyById(first.id))!;
      expect(row.status).toBe("sent");
      expect(fake.posted).toHaveLength(1);
      expect(fake.posted[0]).toEqual({ path: "/2/tweets", body: { text: "@ann_ex sorry, fixed now", reply: { in_reply_to_tweet_id: "778" } } });
      expect(row.externalId).toBeTruthy();
    } finally {
      fake.stop();
    }
  });

  test("a draft on response-events is not sent; an approved edit (outputs.reply.review) is, with the original loaded from the messages table", async () => {
    const tag = rand();
    const svc = new ReplyService(store, [email], opts, log);
    const id = crypto.randomUUID();
    const conv = `email:root-${tag}@example.com`;
    const result: ResultEvent = {
      type: "message.result",
      message_id: id,
      conversation_id: conv,
      source: "email",
      user: { id: "ann@example.com", name: "Ann" },
      text: "card?",
      received_at: new Date().toISOString(),
      processed_at: new Date().toISOString(),
      outputs: { reply: { text: "Draft answer", status: "draft" } },
      failures: [],
      degraded: false,
      timings: { total_ms: 1, workers: {} },
    };
    await db.saveProcessed([
      {
        message: {
          id,
          source: "email",
          user: { id: "ann@example.com", name: "Ann", email: "ann@example.com" },
          message: { text: "card?", attachments: [] },
          metadata: { received_at: new Date().toISOString(), conversation_id: conv, email: { message_id: `m-${tag}@example.com`, references: [], subject: "Help" } } as never,
        },
        conversationId: conv,
        result,
      },
    ]);
    const before = sink.received.length;
    svc.onResultEvent(result);
    await Bun.sleep(20);
    expect(await store.replyByKey(`${id}:reply`)).toBeNull();
    const decided: ResultEvent = { ...result, outputs: { reply: { text: "Edited answer", status: "approved", edited: true, review: { action: "edited", at: new Date().toISOString(), by: "lead@example.test" } } } };
    // A decided result on response-events is handed over by the decision service itself, not by the listener...
    svc.onResultEvent(decided);
    await Bun.sleep(20);
    expect(await store.replyByKey(`${id}:reply`)).toBeNull();
    // ...and by the reply sweeper when that hand-off did not happen: the one decision shape is what it reads.
    await svc.sendApproved(decided, { autoSend: false });
    for (let i = 0; i < 200 && (await store.replyByKey(`${id}:reply`))?.status !== "sent"; i++) await Bun.sleep(10);
    const row = (await store.replyByKey(`${id}:reply`))!;
    expect(row.status).toBe("sent");
    expect(row.approvedBy).toBe("lead@example.test");
    expect(sink.received.length).toBe(before + 1);
    expect(sink.received.at(-1)!.subject).toBe("Re: Help");
    expect(sink.received.at(-1)!.text!.trim()).toBe("Edited answer");
  });
});

describe("reply HTTP routes", () => {
  test("POST /api/channels/replies needs an API key, sends once per idempotency key, 404s an unknown message; auto-replies to automatic mail are suppressed", async () => {
    const { Elysia } = await import("elysia");
    const { buildApp } = await import("../../src/http/app.ts");
    const { Metrics } = await import("../../src/obs/metrics.ts");
    const { replyRoutes } = await import("../../src/channels/replies/routes.ts");
    const db = await openTestStore();
    const store = channelStore(db);
    const bus = await busWithCollector();
    try {
      const svc = new ReplyService(store, [new ChatDeliverer(bus.bus, bus.topic)], opts, log);
      const key = "test-api-key-0123456789";
      const app = buildApp({ log, metrics: new Metrics(false), checks: [], features: [replyRoutes({ replies: svc, store, apiKeys: [{ name: "crm-sender", scopes: ["reply"], secret: key }, { name: "ingest-only", scopes: ["ingest"], secret: "ingest-only-key-0123456789" }] }) as unknown as InstanceType<typeof Elysia>] });
      const id = crypto.randomUUID();
      const conv = `chat:v-${rand()}`;
      const result: ResultEvent = { type: "message.result", message_id: id, conversation_id: conv, source: "chat", user: { id: "v" }, text: "hi", received_at: new Date().toISOString(), processed_at: new Date().toISOString(), outputs: {}, failures: [], degraded: false, timings: { total_ms: 1, workers: {} } };
      await db.saveProcessed([{ message: { id, source: "chat", user: { id: "v" }, message: { text: "hi", attachments: [] }, metadata: { received_at: new Date().toISOString(), conversation_id: conv } }, conversationId: conv, result }]);
      const call = (body: unknown, auth = true) =>
        app.handle(new Request("http://local/api/channels/replies", { method: "POST", headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(body) }));
      expect((await call({ message_id: id, text: "Hello!", approved_by: "agent-1" }, false)).status).toBe(401);
      const wrongScope = await app.handle(new Request("http://local/api/channels/replies", { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer ingest-only-key-0123456789" }, body: JSON.stringify({ message_id: id, text: "Hello!" }) }));
      expect(wrongScope.status).toBe(403);
      const res = await call({ message_id: id, text: "Hello!", approved_by: "agent-1" });
      expect(res.status).toBe(201);
      const view = (await res.json()) as { id: string; status: string; channel: string; approved_by: string };
      // approved_by is the key's name, whatever the body claims.
      expect(view).toMatchObject({ status: "sent", channel: "chat", approved_by: "crm-sender" });
      const again = await call({ message_id: id, text: "Hello!", approved_by: "agent-1" });
      expect(((await again.json()) as { id: string }).id).toBe(view.id);
      await bus.waitForCount(1);
      expect(bus.records.length).toBe(1);
      const read = await app.handle(new Request(`http://local/api/channels/conversations/${encodeURIComponent(conv)}/replies`, { headers: { authorization: `Bearer ${key}` } }));
      expect(((await read.json()) as { replies: unknown[] }).replies).toHaveLength(1);
      expect((await call({ message_id: crypto.randomUUID(), text: "x", approved_by: "a" })).status).toBe(404);

      const loop: OriginalMessage = { id: crypto.randomUUID(), source: "email", conversationId: "email:ooo@x", user: { id: "bot@example.com", email: "bot@example.com" }, metadata: { email: { message_id: "ooo@x", subject: "Out of office", auto_submitted: true } } };
      const suppressed = await new ReplyService(store, [], opts, log).send({ messageId: loop.id, original: loop, text: "Thanks", approvedBy: "auto" });
      expect(suppressed.status).toBe("failed");
      expect(suppressed.lastError).toContain("loop");
    } finally {
      await bus.close();
      await db.close();
    }
  });
});
