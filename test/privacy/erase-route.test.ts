import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { messages, privacyAudit } from "../../src/db/schema.ts";
import { ingest, signIn, startHarness, until, type Client, type Harness } from "../dashboard/harness.ts";

let h: Harness;
let admin: Client;
let agent: Client;

beforeAll(async () => {
  h = await startHarness();
  admin = await signIn(h, "admin");
  agent = await signIn(h, "agent");
}, 60_000);
afterAll(async () => {
  await h?.stop();
});

test("POST /dashboard/privacy/erase is admin-only and CSRF-checked, erases the customer and audits without the id", async () => {
  const who = `erase-me-${crypto.randomUUID().slice(0, 8)}`;
  const { id, conversation_id } = await ingest(h, { source: "chat", user: { id: who, name: "Eve Erasable" }, message: { text: "please forget me" } });
  await until(async () => (await h.parts.store.db.select().from(messages).where(eq(messages.id, id))).length === 1, 10_000, "message stored");
  await until(async () => (await h.parts.sessions.get(conversation_id)).turns.length > 0, 10_000, "session turn");

  expect((await agent.post("/dashboard/privacy/erase", { customer: who }, { "x-csrf-token": agent.csrf })).status).toBe(403);
  expect((await admin.post("/dashboard/privacy/erase", { customer: who })).status).toBe(403);
  expect((await admin.post("/dashboard/privacy/erase", { customer: "" }, { "x-csrf-token": admin.csrf })).status).toBe(422);
  expect((await h.parts.store.db.select().from(messages).where(eq(messages.id, id))).length).toBe(1);

  const r = await admin.post("/dashboard/privacy/erase", { customer: who }, { "x-csrf-token": admin.csrf });
  expect(r.status).toBe(200);
  const body = (await r.json()) as { audit_id: number; counts: Record<string, number> };
  expect(body.counts.messages).toBe(1);
  expect((await h.parts.store.db.select().from(messages).where(eq(messages.id, id))).length).toBe(0);
  expect((await h.parts.sessions.get(conversation_id)).turns).toEqual([]);
  const [audit] = await h.parts.store.db.select().from(privacyAudit).where(eq(privacyAudit.id, body.audit_id));
  expect(audit!.action).toBe("erase");
  expect(audit!.actor).toMatch(/^user:[0-9a-f-]{36}$/);
  expect(JSON.stringify(audit)).not.toContain(who);
}, 30_000);
