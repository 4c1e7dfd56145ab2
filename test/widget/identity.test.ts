import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { messages } from "../../src/db/schema.ts";
import { identify, messageIdFor, publicVisitorId, signIdentity, verifyIdentity } from "../../src/widget/identity.ts";
import { signIn, socket, startHarness, until, type Harness } from "../dashboard/harness.ts";

const SECRET = "a-widget-identity-secret-of-32-chars!!";
const now = () => Math.floor(Date.now() / 1000);

describe("identity tokens", () => {
  test("a signed token verifies; tampering, another secret, expiry and over-long lifetimes are refused", () => {
    const tok = signIdentity(SECRET, { sub: "cust-42", name: "Ada", exp: now() + 600 });
    expect(verifyIdentity(SECRET, tok)).toMatchObject({ ok: true, value: { sub: "cust-42", name: "Ada" } });
    const [v, body, sig] = tok.split(".");
    const forged = `${v}.${Buffer.from(JSON.stringify({ sub: "cust-43", exp: now() + 600 })).toString("base64url")}.${sig}`;
    expect(verifyIdentity(SECRET, forged).ok).toBe(false);
    expect(verifyIdentity("another-secret-that-is-32-chars-long!", tok).ok).toBe(false);
    expect(verifyIdentity(SECRET, signIdentity(SECRET, { sub: "x", exp: now() - 1 })).ok).toBe(false);
    expect(verifyIdentity(SECRET, signIdentity(SECRET, { sub: "x", exp: now() + 30 * 86_400 })).ok).toBe(false);
    expect(verifyIdentity(SECRET, signIdentity(SECRET, { sub: "bad sub with spaces", exp: now() + 60 })).ok).toBe(false);
    expect(verifyIdentity(SECRET, `${v}.${body}`).ok).toBe(false);
  });

  test("verified and anonymous customers live in separate conversation namespaces", () => {
    const o = { secret: SECRET, required: false };
    const signed = identify({ token: signIdentity(SECRET, { sub: "abcdefgh", exp: now() + 60 }) }, o);
    const anon = identify({ visitor: "abcdefgh" }, o);
    expect(signed.ok && signed.value.conversationId).toBe("chat:id:abcdefgh");
    expect(anon.ok && anon.value.conversationId).toBe(`chat:${publicVisitorId("abcdefgh")}`);
    expect(identify({ visitor: "abcdefgh" }, { secret: SECRET, required: true }).ok).toBe(false);
    expect(identify({ visitor: "short" }, o).ok).toBe(false);
    expect(identify({ visitor: "chat:id:x-visitor" }, o).ok).toBe(false);
  });

  test("message ids derive from conversation and client id: stable, distinct, valid UUIDs", () => {
    const a = messageIdFor("chat:v1", "c1");
    expect(a).toBe(messageIdFor("chat:v1", "c1"));
    expect(a).not.toBe(messageIdFor("chat:v2", "c1"));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe("chat socket and history with identities", () => {
  let h: Harness;
  beforeAll(async () => {
    // Every socket comes from 127.0.0.1 and the file sends more than the default per-address burst (5): limits are
    // tested in test/security, scoping here.
    h = await startHarness({ listen: true, env: { WIDGET_IDENTITY_SECRET: SECRET, RATE_LIMIT_CHAT_MESSAGE_IP: "60/1m" } });
  }, 60_000);
  afterAll(async () => {
    await h.stop();
  });
  const ws = (q: string) => `${h.url.replace("http", "ws")}/api/chat/ws?${q}`;
  const history = (body: unknown) => h.app.handle(new Request(`${h.url}/widget/history`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }));

  test("a signed customer chats as their own id; a bad token is refused at the upgrade", async () => {
    const tok = signIdentity(SECRET, { sub: "cust-1001", name: "Grace", email: "grace@example.com", exp: now() + 600 });
    const s = await socket(ws(`token=${encodeURIComponent(tok)}`));
    expect(JSON.parse(await s.next((f) => f.includes('"ready"'))).conversation_id).toBe("chat:id:cust-1001");
    s.send({ type: "message", text: "hello as Grace", name: "Not Grace", client_id: "g1" });
    const ack = JSON.parse(await s.next((f) => f.includes('"ack"'))) as { id: string };
    await until(async () => (await h.parts.store.existing([ack.id])).size === 1);
    const [m] = await h.parts.store.db.select().from(messages).where(eq(messages.id, ack.id));
    expect(m).toMatchObject({ customerId: "cust-1001", conversationId: "chat:id:cust-1001" });
    // Name and address are encrypted at rest; they open to the identity token's values, not the socket's.
    expect(h.parts.store.cipher.open(m!.customerName, "messages.customer_name")).toBe("Grace");
    expect(h.parts.store.cipher.open(m!.customerEmail, "messages.customer_email")).toBe("grace@example.com");
    s.close();
    await expect(socket(ws(`token=${encodeURIComponent(tok.slice(0, -3))}abc`))).rejects.toThrow();
  });

  test("a message re-sent with the same client id after a reconnect is stored once", async () => {
    const a = await socket(ws("visitor=resend-visitor-1"));
    await a.next((f) => f.includes('"ready"'));
    a.send({ type: "message", text: "only once please", client_id: "dup-1" });
    const ack1 = JSON.parse(await a.next((f) => f.includes('"ack"'))) as { id: string };
    a.close();
    const b = await socket(ws("visitor=resend-visitor-1"));
    await b.next((f) => f.includes('"ready"'));
    b.send({ type: "message", text: "only once please", client_id: "dup-1" });
    const ack2 = JSON.parse(await b.next((f) => f.includes('"ack"'))) as { id: string };
    expect(ack2.id).toBe(ack1.id);
    b.send({ type: "message", text: "a different message", client_id: "dup-2" });
    const ack3 = JSON.parse(await b.next((f) => f.includes('"ack"') && f.includes("dup-2"))) as { id: string };
    await until(async () => (await h.parts.store.existing([ack3.id])).size === 1);
    await until(async () => (await h.parts.store.existing([ack1.id])).size === 1);
    const rows = await h.parts.store.db.select().from(messages).where(eq(messages.conversationId, `chat:${publicVisitorId("resend-visitor-1")}`));
    expect(rows.map((r) => h.parts.store.cipher.open(r.text, "messages.text")).sort()).toEqual(["a different message", "only once please"]);
    b.close();
  });

  test("one customer never sees another's conversation: replies and history are scoped to the caller", async () => {
    const agent = await signIn(h, "agent");
    const alice = await socket(ws("visitor=isolation-alice-1"));
    const mallory = await socket(ws("visitor=isolation-mallory-1"));
    await alice.next((f) => f.includes('"ready"'));
    await mallory.next((f) => f.includes('"ready"'));
    alice.send({ type: "message", text: "my secret order question", client_id: "a1" });
    const ack = JSON.parse(await alice.next((f) => f.includes('"ack"'))) as { id: string };
    await until(async () => (await h.parts.store.existing([ack.id])).get(ack.id)?.published);
    await agent.post(`/dashboard/messages/${ack.id}/decision`, { action: "approve" }, { "x-csrf-token": agent.csrf });
    await alice.next((f) => f.includes('"reply"'));
    mallory.send({ type: "message", text: "hi", client_id: "m1" });
    await mallory.next((f) => f.includes('"ack"'));
    expect(mallory.frames.some((f) => f.includes(ack.id) || f.includes("secret"))).toBe(false);

    const mine = (await (await history({ visitor: "isolation-alice-1" })).json()) as { messages: { id: string; text: string; reply: string | null; client_id: string }[] };
    expect(mine.messages).toHaveLength(1);
    expect(mine.messages[0]).toMatchObject({ id: ack.id, text: "my secret order question", client_id: "a1" });
    expect(mine.messages[0]!.reply).toContain("thanks for reaching out");
    const theirs = (await (await history({ visitor: "isolation-mallory-1" })).json()) as { messages: { text: string }[] };
    expect(theirs.messages.some((m) => m.text.includes("secret"))).toBe(false);
    expect((await history({ visitor: "x" })).status).toBe(400);
    expect((await history({ token: "v1.forged.token" })).status).toBe(401);
    alice.close();
    mallory.close();
  });

  test("the widget bundle is built and served as JavaScript that never writes HTML from data; the demo page embeds it", async () => {
    const js = await h.app.handle(new Request(`${h.url}/widget/widget.js`));
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toContain("javascript");
    const code = await js.text();
    expect(code.length).toBeGreaterThan(2000);
    expect(code).not.toContain("innerHTML");
    expect(code).toContain("/api/chat/ws");
    const again = await h.app.handle(new Request(`${h.url}/widget/widget.js`, { headers: { "if-none-match": js.headers.get("etag")! } }));
    expect(again.status).toBe(304);
    const demo = await (await h.app.handle(new Request(`${h.url}/widget/demo`))).text();
    expect(demo).toContain('<script src="/widget/widget.js"');
  });
});
