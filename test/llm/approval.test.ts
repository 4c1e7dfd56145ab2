import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { ReplyApprovals, type ReplyHandoff } from "../../src/agents/response/approval.ts";
import { draftReviewRoutes } from "../../src/agents/response/routes.ts";
import type { ResultEvent } from "../../src/agents/types.ts";
import { MemoryBus } from "../../src/bus/memory.ts";
import { openPglite, type Store } from "../../src/db/store.ts";
import { AppError } from "../../src/errors.ts";
import { createLogger } from "../../src/obs/log.ts";
import type { CustomerMessage } from "../../src/schema/message.ts";
import { MemorySessionStore } from "../../src/session/memory.ts";

const KEY = "review-key-0123456789";
const INGEST_ONLY = "ingest-key-0123456789";
const log = createLogger("silent");
let store: Store;
let bus: MemoryBus;
const published: ResultEvent[] = [];
const handed: Parameters<ReplyHandoff["send"]>[0][] = [];
const sessions = new MemorySessionStore({ ttlSeconds: 60, maxTurns: 20 });
let app: Elysia<any, any, any, any, any, any, any>;
let i = 0;

async function seed(source: CustomerMessage["source"], reply: Record<string, unknown> | null): Promise<string> {
  i++;
  const id = `10000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
  const msg: CustomerMessage = { id, source, user: { id: `u${i}`, email: "c@example.org" }, message: { text: "I lost my card", attachments: [] }, metadata: { received_at: new Date().toISOString(), conversation_id: `conv-${i}` } };
  const result: ResultEvent = {
    type: "message.result", message_id: id, conversation_id: `conv-${i}`, source, user: { id: `u${i}` }, text: msg.message.text, received_at: msg.metadata.received_at,
    processed_at: new Date().toISOString(), outputs: reply ? { reply } : {}, failures: [], degraded: false, timings: { total_ms: 1, workers: {} },
  };
  await store.saveProcessed([{ message: msg, conversationId: `conv-${i}`, result }]);
  return id;
}
const draft = { text: "Freeze the card in the app.", annotated: "Freeze the card in the app [1].", status: "draft", mode: "generated", template: "reply/v1" };
const call = (path: string, body?: unknown, key: string | null = KEY) =>
  app.handle(new Request(`http://localhost/api/replies${path}`, { method: body === undefined ? "GET" : "POST", headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) }));

beforeAll(async () => {
  store = await openPglite(null);
  bus = new MemoryBus();
  await bus.start(["responses"]);
  await bus.subscribe({ groupId: "t", topics: ["responses"], handler: async (rs) => void published.push(...rs.map((r) => JSON.parse(r.value))) });
  const handoff: ReplyHandoff = {
    async send(r) {
      if (r.text.includes("FAIL")) throw new AppError("smtp_down", "SMTP refused", { retriable: true });
      handed.push(r);
      return { id: "reply-1", status: "sent" };
    },
  };
  const approvals = new ReplyApprovals({ store, bus, responsesTopic: "responses", sessions, handoff, log });
  app = new Elysia()
    .onError(({ error, set }) => {
      if (error instanceof AppError) {
        set.status = error.status;
        return error.toJSON();
      }
    })
    .use(draftReviewRoutes({ approvals, apiKeys: [{ name: "desk-ana", scopes: ["review"], secret: KEY }, { name: "ingester", scopes: ["ingest", "reply"], secret: INGEST_ONLY }] }));
}, 30_000);
afterAll(async () => {
  await bus.stop();
  await store.close();
});

describe("draft review API", () => {
  test("requires the API key", async () => {
    const id = await seed("chat", draft);
    expect((await call(`/${id}`, undefined, null)).status).toBe(401);
    expect((await call(`/${id}/approve`, {}, "wrong-key-0123456789")).status).toBe(401);
    // A key without the review scope cannot read or decide drafts.
    expect((await call(`/${id}`, undefined, INGEST_ONLY)).status).toBe(403);
    expect((await call(`/${id}/approve`, {}, INGEST_ONLY)).status).toBe(403);
  });

  test("approve: status approved, review recorded and persisted, hand-off called, result re-published, memory updated", async () => {
    const id = await seed("email", draft);
    const res = await call(`/${id}/approve`, { by: "Ana" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { reply: Record<string, any> };
    expect(body.reply.status).toBe("approved");
    // The reviewer is the key's configured name; a name in the body is not believed.
    expect(body.reply.review).toMatchObject({ action: "approved", by: "desk-ana" });
    expect(body.reply.delivery).toEqual({ id: "reply-1", status: "sent" });
    expect(handed.at(-1)).toMatchObject({ messageId: id, text: "Freeze the card in the app.", approvedBy: "desk-ana", idempotencyKey: `${id}:reply` });
    const stored = (await store.loadEvents([id])).get(id)!.outputs.reply as Record<string, any>;
    expect(stored.status).toBe("approved");
    await Bun.sleep(20);
    expect(published.find((e) => e.message_id === id)?.outputs.reply).toMatchObject({ status: "approved" });
    const state = (await sessions.get(`conv-${i}`)).state as Record<string, any>;
    expect(state.reply_log.at(-1)).toMatchObject({ message_id: id, status: "approved" });
  });

  test("a decided draft cannot be decided again (409), and unknown messages are 404", async () => {
    const id = await seed("chat", draft);
    expect((await call(`/${id}/approve`, {})).status).toBe(200);
    const again = await call(`/${id}/reject`, { reason: "late" });
    expect(again.status).toBe(409);
    expect((await call(`/10000000-0000-4000-8000-999999999999/approve`, {})).status).toBe(404);
  });

  test("two concurrent approvals: exactly one wins", async () => {
    const id = await seed("email", draft);
    const before = handed.length;
    const [a, b] = await Promise.all([call(`/${id}/approve`, {}), call(`/${id}/edit`, { text: "Other text" })]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    expect(handed.length).toBe(before + 1);
  });

  test("edit: the edited text is sent, the draft text kept for the audit", async () => {
    const id = await seed("email", draft);
    const res = await call(`/${id}/edit`, { text: "  Please freeze your card now.  " });
    const body = (await res.json()) as { reply: Record<string, any> };
    expect(body.reply).toMatchObject({ status: "approved", edited: true, text: "Please freeze your card now.", draft_text: "Freeze the card in the app." });
    expect(handed.at(-1)!.text).toBe("Please freeze your card now.");
  });

  test("reject needs a reason and sends nothing; non-drafts and missing drafts are refused", async () => {
    const id = await seed("email", draft);
    const before = handed.length;
    expect((await call(`/${id}/reject`, {})).status).toBe(422);
    const res = await call(`/${id}/reject`, { reason: "wrong policy" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).reply).toMatchObject({ status: "rejected", review: { reason: "wrong policy" } });
    expect(handed.length).toBe(before);
    const sent = await seed("chat", { ...draft, status: "auto_sent" });
    expect((await call(`/${sent}/approve`, {})).status).toBe(409);
    const none = await seed("chat", null);
    expect((await call(`/${none}/approve`, {})).status).toBe(409);
  });

  test("a failing hand-off keeps the approval and records the delivery failure", async () => {
    const id = await seed("email", draft);
    const res = await call(`/${id}/edit`, { text: "FAIL please" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).reply.delivery).toMatchObject({ status: "handoff_failed", code: "smtp_down" });
  });
});
