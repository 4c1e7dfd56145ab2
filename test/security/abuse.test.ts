import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { messages, results, users } from "../../src/db/schema.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { sign, SIGNATURE_HEADER, TIMESTAMP_HEADER } from "../../src/channels/social/webhook.ts";
import { publicVisitorId } from "../../src/widget/identity.ts";
import { socket, testAgents, until } from "../dashboard/harness.ts";
import { testConfig, testLog } from "../support/env.ts";
import { Elysia } from "elysia";
import { chatRoutes } from "../../src/ingest/chat.ts";
import type { MessagePublisher } from "../../src/ingest/publisher.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import type { ResultHub } from "../../src/realtime/hub.ts";
import { AbuseGuard, DEFAULT_ABUSE } from "../../src/ratelimit/guard.ts";
import { MemoryRateLimiter } from "../../src/ratelimit/memory.ts";

const INGEST = "ingest-key-0123456789abcdef";
const REVIEW = "review-key-0123456789abcdef";
const HOOK = "forum-webhook-secret-0123456789";
const ADMIN = { email: "admin@example.com", password: "a long admin passphrase" };

/** The product as runtime.ts wires it (embedded parts), with small limits so each one is reached quickly. */
let svc: Service;
let server: { stop(): Promise<void> | void };
let base: string;
const events: string[] = [];

beforeAll(async () => {
  const config = testConfig({
    API_KEYS: `crm:ingest:${INGEST},desk:review+reply:${REVIEW}`,
    RATE_LIMIT_INGEST_KEY: "3/1m",
    RATE_LIMIT_HISTORY_VISITOR: "2/1m",
    RATE_LIMIT_WEBHOOK_SOURCE: "2/1m",
    RATE_LIMIT_CHAT_CONNECT_IP: "12/1m",
    RATE_LIMIT_CHAT_MESSAGE_VISITOR: "2/1m",
    // Every socket here comes from 127.0.0.1: the per-address message limit is set above what the file sends (its
    // default burst of 5 is covered in ratelimit.test.ts), so the per-visitor and per-socket limits are the ones reached.
    RATE_LIMIT_CHAT_MESSAGE_IP: "60/1m",
    MAX_SOCKETS_PER_IP: "3",
    MAX_IN_FLIGHT_PER_SOCKET: "1",
    CHAT_ABUSE_CLOSE_AFTER: "3",
    SOCIAL_WEBHOOK_SECRETS: `forum=${HOOK}`,
    DASHBOARD_ADMIN_EMAIL: ADMIN.email,
    DASHBOARD_ADMIN_PASSWORD: ADMIN.password,
  });
  svc = await startService(await openParts(config), testAgents());
  svc.hub!.onAny((ev) => events.push(JSON.stringify(ev)));
  const app = svc.app!.listen({ hostname: "127.0.0.1", port: 0 });
  server = {
    stop: async () => {
      await app.stop(true);
    },
  };
  base = `127.0.0.1:${app.server!.port}`;
}, 60_000);
afterAll(async () => {
  await server.stop();
  await svc.stop();
});

const handle = (path: string, init: RequestInit = {}) => svc.app!.handle(new Request(`http://local${path}`, init));
const ingest = (key: string, text = "hello") =>
  handle("/api/messages", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify({ user: { id: "cust-9" }, message: { text } }) });
const history = (body: unknown) => handle("/widget/history", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const wsUrl = (q: string) => `ws://${base}/api/chat/ws?${q}`;
const secret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
const closed = (ws: WebSocket) => new Promise<number>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(-1) : ws.addEventListener("close", (e) => resolve(e.code))));

describe("scoped API keys and per-key limits on POST /api/messages", () => {
  test("a key without the ingest scope gets 403; past the key's budget the answer is 429 with Retry-After", async () => {
    const wrong = await ingest(REVIEW);
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe("forbidden_scope");
    for (let i = 0; i < 3; i++) expect((await ingest(INGEST)).status).toBe(202);
    const over = await ingest(INGEST);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
  });
});

describe("widget history and webhooks", () => {
  test("history: per visitor, 429 with Retry-After (and CORS) past the budget; another visitor is unaffected", async () => {
    const v = secret();
    expect((await history({ visitor: v })).status).toBe(200);
    expect((await history({ visitor: v })).status).toBe(200);
    const over = await history({ visitor: v });
    expect(over.status).toBe(429);
    expect(over.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(over.headers.get("access-control-allow-origin")).toBe("*");
    expect((await history({ visitor: secret() })).status).toBe(200);
  });

  test("webhooks: signed deliveries per source are limited; unsigned requests do not use up the sender's budget", async () => {
    const deliver = (id: string, signed = true) => {
      const body = JSON.stringify({ id, author: { id: "u1" }, text: "hi from the forum" });
      const ts = String(Math.floor(Date.now() / 1000));
      return handle("/api/channels/webhooks/forum", { method: "POST", headers: { "content-type": "application/json", [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: signed ? sign(HOOK, ts, body) : "sha256=00" }, body });
    };
    for (let i = 0; i < 5; i++) expect((await deliver(`bad-${i}`, false)).status).toBe(401);
    expect((await deliver("p1")).status).toBeLessThan(300);
    expect((await deliver("p2")).status).toBeLessThan(300);
    const over = await deliver("p3");
    expect(over.status).toBe(429);
    expect(over.headers.get("retry-after")).toMatch(/^\d+$/);
  });
});

describe("chat socket limits", () => {
  test("open sockets per address are capped; a closed socket frees its slot", async () => {
    const a = await socket(wsUrl(`visitor=${secret()}`));
    const b = await socket(wsUrl(`visitor=${secret()}`));
    const c = await socket(wsUrl(`visitor=${secret()}`));
    await expect(socket(wsUrl(`visitor=${secret()}`))).rejects.toThrow();
    a.close();
    await closed(a.ws);
    await until(async () => {
      try {
        const d = await socket(wsUrl(`visitor=${secret()}`));
        d.close();
        return true;
      } catch {
        return false;
      }
    }, 5000, "a freed slot");
    b.close();
    c.close();
    await Promise.all([closed(b.ws), closed(c.ws)]);
  });

  test("messages per visitor: refused frames say rate_limited, and a socket that keeps sending is closed with 1008", async () => {
    const s = await socket(wsUrl(`visitor=${secret()}`));
    await s.next((f) => f.includes('"ready"'));
    const code = closed(s.ws);
    for (let i = 1; i <= 5; i++) {
      s.send({ type: "message", text: `message ${i}`, client_id: `m${i}` });
      await s.next((f) => f.includes(`"m${i}"`), 5000).catch(() => null);
    }
    const acks = s.frames.filter((f) => f.includes('"ack"'));
    const limited = s.frames.filter((f) => f.includes('"rate_limited"'));
    expect(acks.length).toBe(2);
    expect(limited.length).toBe(3);
    expect(JSON.parse(limited[0]!)).toMatchObject({ type: "error", code: "rate_limited", retriable: true });
    expect(await code).toBe(1008);
  });

  test("messages in flight per socket are capped: while the bus has not acknowledged, extra frames are refused", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let published = 0;
    const publisher = { submit: async () => (published++, await gate, { ok: true, value: { id: crypto.randomUUID() } }) } as unknown as MessagePublisher;
    const hub = { onConversation: () => () => {} } as unknown as ResultHub;
    const guard = new AbuseGuard(new MemoryRateLimiter(), { ...DEFAULT_ABUSE, inFlightPerSocket: 2 });
    const app = new Elysia().use(chatRoutes({ publisher, hub, apiKeys: [], metrics: new Metrics(false), log: testLog, guard })).listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const s = await socket(`ws://127.0.0.1:${app.server!.port}/api/chat/ws?visitor=${secret()}`);
      await s.next((f) => f.includes('"ready"'));
      for (let i = 0; i < 4; i++) s.send({ type: "message", text: `burst ${i}`, client_id: `b${i}` });
      const refused = await s.next((f) => f.includes('"too_many_in_flight"'));
      expect(JSON.parse(refused)).toMatchObject({ type: "error", retriable: true });
      expect(published).toBe(2);
      release();
      await s.next((f) => f.includes('"ack"') && f.includes('"b1"'));
      expect(s.frames.filter((f) => f.includes('"too_many_in_flight"')).length).toBe(2);
      s.close();
    } finally {
      await app.stop(true);
    }
  });

  test("connections per address are rate limited: the upgrade is refused with 429 and Retry-After", async () => {
    const upgrade = () => handle(`/api/chat/ws?visitor=${secret()}`, { headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" } });
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) statuses.push((await upgrade()).status);
    const refused = await upgrade();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
  });
});

describe("refusing early and cheaply", () => {
  test("an address over its history budget is refused before routing: even an unparsable body gets 429, not 400", async () => {
    const post = (body: string) => fetch(`http://${base}/widget/history`, { method: "POST", headers: { "content-type": "application/json" }, body });
    // Without the penalty box, a broken body is a 400 from body parsing.
    expect((await post("{not json")).status).toBe(400);
    let status = 0;
    for (let i = 0; i < 40 && status !== 429; i++) status = (await post(JSON.stringify({ visitor: secret() }))).status;
    expect(status).toBe(429);
    const early = await post("{not json");
    expect(early.status).toBe(429);
    expect(early.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(early.headers.get("access-control-allow-origin")).toBe("*");
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
  });

  test("invalid frames count like refused ones: a socket that keeps sending garbage is closed with 1008", async () => {
    const s = await socket(wsUrl(`visitor=${secret()}`));
    await s.next((f) => f.includes('"ready"'));
    const code = closed(s.ws);
    for (let i = 0; i < 3; i++) s.ws.send(i % 2 ? "not json" : JSON.stringify({ type: "nonsense" }));
    expect(await code).toBe(1008);
    const errors = s.frames.filter((f) => f.includes('"invalid_frame"')).map((f) => JSON.parse(f));
    expect(errors.length).toBe(3);
    expect(errors[0]).toMatchObject({ type: "error", code: "invalid_frame", retriable: false });
  });

  test("a frame over WS_MAX_PAYLOAD_BYTES is refused: the socket is closed with 1009 (message too big)", async () => {
    const s = await socket(wsUrl(`visitor=${secret()}`));
    await s.next((f) => f.includes('"ready"'));
    const code = closed(s.ws);
    s.send({ type: "message", text: "x".repeat(svc.parts.config.resilience.wsMaxPayloadBytes + 1), client_id: "big" });
    expect(await code).toBe(1009);
    expect(s.frames.some((f) => f.includes('"ack"'))).toBe(false);
  });
});

describe("visitor identity", () => {
  test("the browser's secret opens its conversation; agents, events, the database and the dashboard only see the HMAC id", async () => {
    const v = secret();
    const pub = `chat:${publicVisitorId(v)}`;
    const s = await socket(wsUrl(`visitor=${v}`));
    const ready = JSON.parse(await s.next((f) => f.includes('"ready"'))) as { conversation_id: string };
    expect(ready.conversation_id).toBe(pub);
    s.send({ type: "message", text: "URGENT my card was stolen", client_id: "c1" });
    const ack = JSON.parse(await s.next((f) => f.includes('"ack"'))) as { id: string };
    await until(async () => (await svc.parts.store.existing([ack.id])).get(ack.id)?.published, 10_000, "result");
    s.close();

    const [m] = await svc.parts.store.db.select().from(messages).where(eq(messages.id, ack.id));
    expect(m!.conversationId).toBe(pub);
    expect(JSON.stringify(m)).not.toContain(v);
    const [r] = await svc.parts.store.db.select().from(results).where(eq(results.messageId, ack.id));
    expect(JSON.stringify(r)).not.toContain(v);
    await until(() => events.some((e) => e.includes(ack.id)), 5000, "result event");
    expect(events.filter((e) => e.includes(v))).toEqual([]);

    // The visitor reads its history with the secret; the public id is not a credential.
    const mine = (await (await history({ visitor: v })).json()) as { conversation_id: string; messages: { id: string }[] };
    expect(mine.conversation_id).toBe(pub);
    expect(mine.messages.map((x) => x.id)).toContain(ack.id);
    const guess = await history({ visitor: publicVisitorId(v) });
    expect(guess.status === 400 || ((await guess.json()) as { messages: unknown[] }).messages.length === 0).toBe(true);

    // What an agent sees on the dashboard (feed, conversation page, alerts) never holds the secret.
    // The first admin is created in the background at start (argon2id at full cost): wait for it before signing in.
    await until(async () => (await svc.parts.store.db.select().from(users)).length > 0, 30_000, "the bootstrap admin");
    const page = await handle("/dashboard/login");
    const csrfCookie = page.headers.getSetCookie().find((c) => c.startsWith("copilot_csrf="))!.split(";")[0]!;
    const token = (await page.text()).match(/name="_csrf" value="([^"]+)"/)![1]!;
    const login = await handle("/dashboard/login", { method: "POST", headers: { cookie: csrfCookie, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ _csrf: token, ...ADMIN }).toString() });
    expect(login.status).toBe(303);
    const cookie = login.headers.getSetCookie().find((c) => c.startsWith("copilot_session="))!.split(";")[0]!;
    for (const path of ["/dashboard", `/dashboard/conversations/${encodeURIComponent(pub)}`, "/dashboard/alerts"]) {
      const html = await (await handle(path, { headers: { cookie } })).text();
      expect(html).not.toContain(v);
      if (path !== "/dashboard/alerts") expect(html).toContain(publicVisitorId(v));
    }
  }, 60_000);
});
