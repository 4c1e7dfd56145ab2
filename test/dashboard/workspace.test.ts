import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { REASON_MAX_CHARS } from "../../src/schema/events.ts";
import { eq } from "drizzle-orm";
import { alerts, labelCorrections, replyDecisions } from "../../src/db/schema.ts";
import { ingest, signIn, socket, startHarness, until, type Client, type Harness } from "./harness.ts";

let h: Harness;
let admin: Client;
let agent: Client;
const hooks: { body: string; signature: string | null }[] = [];
let hookServer: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  hookServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      hooks.push({ body: await req.text(), signature: req.headers.get("x-copilot-signature") });
      return new Response("ok");
    },
  });
  h = await startHarness({ listen: true, env: { ALERT_WEBHOOK_URL: `http://127.0.0.1:${hookServer.port}/hook`, ALERT_WEBHOOK_SECRET: "webhook-secret-for-tests" } });
  admin = await signIn(h, "admin");
  agent = await signIn(h, "agent");
}, 60_000);
afterAll(async () => {
  await h.stop();
  hookServer.stop(true);
});

const wsUrl = (path: string) => `${h.url.replace("http", "ws")}${path}`;
const text = async (r: Response | Promise<Response>) => (await r).text();
const rowsOf = (html: string) => [...html.matchAll(/<li id="msg-([0-9a-f-]{36})"/g)].map((m) => m[1]);

describe("live feed", () => {
  let alice: string, bob: string, carol: string;
  beforeAll(async () => {
    alice = (await ingest(h, { source: "email", user: { id: "alice@example.com", name: "Alice Archer", email: "alice@example.com" }, message: { text: "I want a refund for order #12345" } })).id;
    bob = (await ingest(h, { source: "chat", user: { id: "visitor-bob-1", name: "Bob Baker" }, message: { text: "URGENT my card was stolen" } })).id;
    carol = (await ingest(h, { source: "social", user: { id: "@carol", name: "Carol Chen" }, message: { text: "thanks, great service" } })).id;
  });

  test("lists processed messages newest first with channel, customer, intent with confidence, sentiment and urgency; urgent rows stand out", async () => {
    const html = await text(agent.get("/dashboard"));
    const rows = rowsOf(html);
    expect(rows.indexOf(carol)).toBeLessThan(rows.indexOf(bob));
    expect(rows.indexOf(bob)).toBeLessThan(rows.indexOf(alice));
    const bobRow = html.slice(html.indexOf(`id="msg-${bob}"`), html.indexOf("</li>", html.indexOf(`id="msg-${bob}"`)));
    expect(bobRow).toContain('class="feed-row urgent"');
    expect(bobRow).toContain("Bob Baker");
    expect(bobRow).toContain("URGENT my card was stolen");
    expect(bobRow).toContain(">chat<");
    expect(bobRow).toContain(">high<");
    expect(bobRow).toContain("91%");
  });

  test("filters by channel, intent, sentiment, urgency, free text and time range, and keep them in the URL and the live socket", async () => {
    expect(rowsOf(await text(agent.get("/dashboard?channel=email")))).toEqual([alice]);
    expect(rowsOf(await text(agent.get("/dashboard?intent=refund_request&range=24h")))).toEqual([alice]);
    expect(rowsOf(await text(agent.get("/dashboard?urgency=high")))).toEqual([bob]);
    expect(rowsOf(await text(agent.get("/dashboard?sentiment=positive")))).toEqual([carol]);
    expect(rowsOf(await text(agent.get("/dashboard?q=STOLEN")))).toEqual([bob]);
    expect(rowsOf(await text(agent.get("/dashboard?q=carol%20chen")))).toEqual([carol]);
    expect(rowsOf(await text(agent.get("/dashboard?q=100%25")))).toEqual([]);
    const html = await text(agent.get("/dashboard?channel=social&range=1h"));
    expect(html).toContain('ws-connect="/dashboard/ws?page=feed&channel=social&range=1h"');
    expect(html).toMatch(/<option value="social" selected>/);
  });

  test("a new result is pushed within the same tick to feed sockets whose filters match, as an out-of-band fragment", async () => {
    const s = await socket(wsUrl("/dashboard/ws?page=feed&channel=social"), { cookie: agent.cookie });
    await s.next((f) => f.includes("live-status"));
    await ingest(h, { source: "email", user: { id: "dave@example.com" }, message: { text: "email that must not show on a social feed" } });
    const { id } = await ingest(h, { source: "social", user: { id: "@erin", name: "Erin" }, message: { text: "social message for the live feed" } });
    const frame = await s.next((f) => f.includes("feed-row"));
    expect(frame).toContain('hx-swap-oob="afterbegin:#feed"');
    expect(frame).toContain(`id="msg-${id}"`);
    expect(s.frames.some((f) => f.includes("must not show"))).toBe(false);
    s.close();
  });

  test("the dashboard socket refuses anonymous and cross-origin connections", async () => {
    await expect(socket(wsUrl("/dashboard/ws?page=feed"))).rejects.toThrow();
    await expect(socket(wsUrl("/dashboard/ws?page=feed"), { cookie: agent.cookie, origin: "http://evil.example" })).rejects.toThrow();
  });
});

describe("conversation workspace", () => {
  test("shows every worker's output: intent with top-3, sentiment and urgency with reasons, entities, passages, and the draft", async () => {
    const { id, conversation_id } = await ingest(h, { source: "email", user: { id: "frank@example.com", name: "Frank" }, message: { text: "urgent: refund for order #98765 please" } });
    const html = await text(agent.get(`/dashboard/conversations/${encodeURIComponent(conversation_id)}?m=${id}`));
    expect(html).toContain("refund_request");
    expect(html).toContain("billing");
    expect(html).toContain("says it is urgent");
    expect(html).toContain("order_id");
    expect(html).toContain("98765");
    expect(html).toContain("kb-returns-1");
    expect(html).toContain("0.820");
    expect(html).toContain("Hello Frank, thanks for reaching out.");
    expect(html).toContain("Approve and send");
    expect((await agent.get("/dashboard/conversations/nope")).status).toBe(404);
  });

  test("approve sends the draft to the customer's chat socket, records who approved, and cannot be repeated", async () => {
    const chat = await socket(wsUrl("/api/chat/ws?visitor=approve-visitor-1"));
    await chat.next((f) => f.includes('"ready"'));
    chat.send({ type: "message", text: "where is my parcel?", client_id: "c-1" });
    const ack = JSON.parse(await chat.next((f) => f.includes('"ack"'))) as { id: string };
    await chat.next((f) => f.includes('"result"') && f.includes(ack.id));
    const r = await agent.post(`/dashboard/messages/${ack.id}/decision`, { action: "approve" }, { "hx-request": "true", "x-csrf-token": agent.csrf });
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("approved");
    const delivered = JSON.parse(await chat.next((f) => f.includes('"reply"'))) as { message_id: string; reply: string };
    expect(delivered.message_id).toBe(ack.id);
    expect(delivered.reply).toContain("thanks for reaching out");
    const [row] = await h.parts.store.db.select().from(replyDecisions).where(eq(replyDecisions.messageId, ack.id));
    expect(row!.action).toBe("approved");
    expect(row!.userId).not.toBeNull();
    const again = await agent.post(`/dashboard/messages/${ack.id}/decision`, { action: "approve" }, { "hx-request": "true", "x-csrf-token": agent.csrf });
    expect(again.status).toBe(409);
    chat.close();
  });

  test("edit-then-send delivers the edited text; reject needs a reason and sends nothing to the customer", async () => {
    const chat = await socket(wsUrl("/api/chat/ws?visitor=edit-visitor-1"));
    await chat.next((f) => f.includes('"ready"'));
    chat.send({ type: "message", text: "first question", client_id: "e-1" });
    chat.send({ type: "message", text: "second question", client_id: "e-2" });
    const a1 = JSON.parse(await chat.next((f) => f.includes('"ack"') && f.includes("e-1"))) as { id: string };
    const a2 = JSON.parse(await chat.next((f) => f.includes('"ack"') && f.includes("e-2"))) as { id: string };
    await until(async () => (await h.parts.store.existing([a1.id, a2.id])).size === 2);
    const edit = await agent.post(`/dashboard/messages/${a1.id}/decision`, { action: "edit", text: "Edited: your parcel ships today." }, { "x-csrf-token": agent.csrf });
    expect(edit.status).toBe(303);
    const got = JSON.parse(await chat.next((f) => f.includes('"reply"'))) as { reply: string };
    expect(got.reply).toBe("Edited: your parcel ships today.");
    const noReason = await agent.post(`/dashboard/messages/${a2.id}/decision`, { action: "reject" }, { "x-csrf-token": agent.csrf });
    expect(noReason.status).toBe(422);
    // One limit for reasons, the same as the review API's.
    const tooLong = await agent.post(`/dashboard/messages/${a2.id}/decision`, { action: "reject", reason: "x".repeat(REASON_MAX_CHARS + 1) }, { "x-csrf-token": agent.csrf });
    expect(tooLong.status).toBe(422);
    const rejected = await agent.post(`/dashboard/messages/${a2.id}/decision`, { action: "reject", reason: "wrong policy cited" }, { "x-csrf-token": agent.csrf, "hx-request": "true" });
    expect(await rejected.text()).toContain("wrong policy cited");
    const [row] = await h.parts.store.db.select().from(replyDecisions).where(eq(replyDecisions.messageId, a2.id));
    expect(row!.action).toBe("rejected");
    // The rejection is re-published (dashboards update), and the customer's frame for it carries no reply.
    const frames = () => chat.frames.filter((f) => f.includes(a2.id) && f.includes('"result"')).length;
    await until(() => frames() >= 2, 10_000, "rejection frame");
    expect(chat.frames.filter((f) => f.includes(a2.id)).some((f) => f.includes('"reply"'))).toBe(false);
    chat.close();
  });

  test("a watched conversation receives streamed draft tokens (escaped) and new messages live", async () => {
    const { conversation_id } = await ingest(h, { source: "chat", user: { id: "visitor-gina-1", name: "Gina" }, message: { text: "hello" }, metadata: { conversation_id: "chat:visitor-gina-1" } });
    const s = await socket(wsUrl(`/dashboard/ws?page=conversation&conversation=${encodeURIComponent(conversation_id)}`), { cookie: agent.cookie });
    const mid = crypto.randomUUID();
    // Draft tokens travel on the reply-stream topic (src/schema/events.ts ReplyStreamEvent), relayed by the production wiring.
    const delta = (text: string, seq: number) => ({ key: conversation_id, value: JSON.stringify({ type: "reply.delta", conversation_id, message_id: mid, seq, text }) });
    await h.parts.bus.publish(h.parts.config.topics.stream, [delta("Hello <b>Gina</b>", 0), delta(", one moment", 1)]);
    const first = await s.next((f) => f.includes("drafting a reply"));
    expect(first).toContain("Hello &lt;b&gt;Gina&lt;/b&gt;");
    expect(await s.next((f) => f.includes(`beforeend:#draft-text-${mid}`))).toContain(", one moment");
    await ingest(h, { source: "chat", user: { id: "visitor-gina-1", name: "Gina" }, message: { text: "are you there?" }, metadata: { conversation_id: "chat:visitor-gina-1" } });
    expect(await s.next((f) => f.includes("beforeend:#thread") && f.includes("are you there?"))).toContain("bubble");
    s.close();
  });

  test("label corrections are stored with the model's label for retraining and exported to admins as JSONL", async () => {
    const { id } = await ingest(h, { source: "email", user: { id: "hank@example.com" }, message: { text: "my password does not work" } });
    const r = await agent.post(`/dashboard/messages/${id}/labels`, { field: "intent", value: "login_problem" }, { "hx-request": "true", "x-csrf-token": agent.csrf });
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("login_problem");
    const [row] = await h.parts.store.db.select().from(labelCorrections).where(eq(labelCorrections.messageId, id));
    expect(row).toMatchObject({ field: "intent", previous: "account_access", value: "login_problem" });
    // The copied message text is encrypted at rest under this column's own name.
    expect(row!.text.startsWith("enc:v1:")).toBe(true);
    expect(h.parts.store.cipher.open(row!.text, "label_corrections.text")).toBe("my password does not work");
    expect((await agent.get("/dashboard/labels.jsonl")).status).toBe(403);
    const jsonl = await text(admin.get("/dashboard/labels.jsonl"));
    expect(jsonl.trim().split("\n").map((l) => JSON.parse(l))).toContainEqual(expect.objectContaining({ label: "login_problem", model_label: "account_access", text: "my password does not work" }));
  });
});

describe("analytics and agent activity", () => {
  test("aggregates move with the data: volume by channel, intents, urgent count, acceptance, median time to first response", async () => {
    const before = await h.dashboard.queries.analytics("24h");
    const chatBefore = before.volume.filter((v) => v.channel === "chat").reduce((a, v) => a + v.n, 0);
    const m1 = await ingest(h, { source: "chat", user: { id: "visitor-ivy-1" }, message: { text: "refund please, urgent" } });
    const m2 = await ingest(h, { source: "chat", user: { id: "visitor-ivy-2" }, message: { text: "refund again" } });
    await ingest(h, { source: "social", user: { id: "@jack" }, message: { text: "hi" } });
    await agent.post(`/dashboard/messages/${m1.id}/decision`, { action: "approve" }, { "x-csrf-token": agent.csrf });
    await agent.post(`/dashboard/messages/${m2.id}/decision`, { action: "reject", reason: "off topic" }, { "x-csrf-token": agent.csrf });
    const after = await h.dashboard.queries.analytics("24h");
    expect(after.total - before.total).toBe(3);
    expect(after.urgent - before.urgent).toBe(1);
    expect(after.volume.filter((v) => v.channel === "chat").reduce((a, v) => a + v.n, 0) - chatBefore).toBe(2);
    const refunds = (a: typeof after) => a.intents.find((i) => i.intent === "refund_request")?.n ?? 0;
    expect(refunds(after) - refunds(before)).toBe(2);
    expect(after.acceptance.approved - before.acceptance.approved).toBe(1);
    expect(after.acceptance.rejected - before.acceptance.rejected).toBe(1);
    expect(after.acceptance.rate).toBeGreaterThan(0);
    expect(after.acceptance.rate).toBeLessThan(1);
    expect(after.medianFirstResponseS).not.toBeNull();
    expect(after.medianFirstResponseS!).toBeGreaterThanOrEqual(0);
    const page = await text(admin.get("/dashboard/analytics?range=24h"));
    expect(page).toContain('id="chart-volume"');
    expect(page).toContain('id="analytics-data"');
    expect(page).toContain("/dashboard/assets/uplot.min.js");
  });

  test("agent activity lists each worker's calls, failures and latency, and the last worker errors", async () => {
    await ingest(h, { source: "chat", user: { id: "visitor-kim-1" }, message: { text: "this breaks the entity worker [fail-entities]" } });
    const act = await h.dashboard.queries.agentActivity();
    const entities = act.workers.find((w) => w.worker === "entities")!;
    expect(entities.failures).toBeGreaterThanOrEqual(1);
    const intent = act.workers.find((w) => w.worker === "intent")!;
    expect(intent.calls).toBeGreaterThan(5);
    expect(intent.p50).not.toBeNull();
    expect(intent.p99!).toBeGreaterThanOrEqual(intent.p50!);
    const page = await text(admin.get("/dashboard/agents"));
    expect(page).toContain("entity_model_unavailable");
    expect(page).toContain(">intent<");
    expect(page).toContain("consumer lag");
  });
});

describe("alerts", () => {
  test("an urgent message fires the urgency rule once, toasts open dashboards and posts a signed webhook", async () => {
    const s = await socket(wsUrl("/dashboard/ws?page=alerts"), { cookie: agent.cookie });
    await s.next((f) => f.includes("live-status"));
    const { id } = await ingest(h, { source: "chat", user: { id: "visitor-lee-1", name: "Lee" }, message: { text: "I need help immediately" } });
    const toast = await s.next((f) => f.includes('class="toast"') && f.includes("Lee"));
    expect(toast).toContain("Urgent ticket");
    await h.dashboard.settle();
    const fired = await h.parts.store.db.select().from(alerts).where(eq(alerts.messageId, id));
    expect(fired.length).toBe(1);
    expect(fired[0]!.webhookStatus).toBe("sent");
    const ev = (await h.parts.store.loadEvents([id])).get(id)!;
    await h.dashboard.alerts.evaluate(ev);
    expect((await h.parts.store.db.select().from(alerts).where(eq(alerts.messageId, id))).length).toBe(1);
    const hook = hooks.find((x) => x.body.includes(id))!;
    expect(hook.signature).toBe(`sha256=${createHmac("sha256", "webhook-secret-for-tests").update(hook.body).digest("hex")}`);
    expect(JSON.parse(hook.body).alert.title).toContain("Urgent ticket");
    s.close();
  });

  test("keyword and VIP rules fire; acknowledging records who and when, once", async () => {
    await admin.post("/dashboard/alerts/rules", { name: "Chargeback", kind: "keyword", values: "chargeback, lawyer", _csrf: admin.csrf });
    await admin.post("/dashboard/alerts/rules", { name: "VIP", kind: "vip", values: "vip-customer-1", _csrf: admin.csrf });
    const { id } = await ingest(h, { source: "email", user: { id: "vip-customer-1", name: "Very Important" }, message: { text: "I will file a chargeback" } });
    await h.dashboard.settle();
    const fired = await h.parts.store.db.select().from(alerts).where(eq(alerts.messageId, id));
    expect(fired.map((a) => a.kind).sort()).toEqual(["keyword", "vip"]);
    const target = fired[0]!;
    const r = await agent.post(`/dashboard/alerts/${target.id}/ack`, {}, { "hx-request": "true", "x-csrf-token": agent.csrf });
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("acknowledged by");
    const [acked] = await h.parts.store.db.select().from(alerts).where(eq(alerts.id, target.id));
    expect(acked!.acknowledgedBy).not.toBeNull();
    expect(acked!.acknowledgedAt).not.toBeNull();
    const first = acked!.acknowledgedAt!.getTime();
    await admin.post(`/dashboard/alerts/${target.id}/ack`, {}, { "x-csrf-token": admin.csrf });
    const [still] = await h.parts.store.db.select().from(alerts).where(eq(alerts.id, target.id));
    expect(still!.acknowledgedAt!.getTime()).toBe(first);
    expect(still!.acknowledgedBy).toBe(acked!.acknowledgedBy);
    const page = await text(agent.get("/dashboard/alerts"));
    expect(page).toContain("Chargeback");
  });

  test("a spike of negative messages above the 24 h baseline fires one spike alert", async () => {
    for (let i = 0; i < 5; i++) await ingest(h, { source: "social", user: { id: `@angry${i}` }, message: { text: `this is unacceptable ${i}` } });
    await h.dashboard.settle();
    const spikes = (await h.parts.store.db.select().from(alerts)).filter((a) => a.kind === "spike_negative");
    expect(spikes.length).toBe(1);
    expect(spikes[0]!.title).toContain("Negative sentiment spike");
  });
});
