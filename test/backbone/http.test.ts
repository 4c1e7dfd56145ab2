import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { Agent } from "../../src/agents/types.ts";
import { results } from "../../src/db/schema.ts";
import { ok } from "../../src/errors.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { testConfig, waitFor } from "../support/env.ts";

const KEY = "test-key-0123456789abcdef";

/** A worker used only to show the result reaches the chat client; it echoes the text length. */
const lengthAgent: Agent<{ chars: number }> = { name: "length", run: async (m) => ok({ chars: m.message.text.length }) };

describe("chat ingestion over HTTP and WebSocket (embedded parts)", () => {
  let svc: Service;
  let server: ReturnType<NonNullable<Service["app"]>["listen"]>;
  let base: string;

  beforeAll(async () => {
    const config = testConfig({ API_KEYS: KEY, PORT: "0" });
    svc = await startService(await openParts(config), [lengthAgent]);
    server = svc.app!.listen({ hostname: "127.0.0.1", port: 0 });
    base = `127.0.0.1:${server.server!.port}`;
  });
  afterAll(async () => {
    await server.stop();
    await svc.stop();
  });

  const post = (body: unknown, key: string | null = KEY) =>
    svc.app!.handle(
      new Request("http://local/api/messages", {
        method: "POST",
        headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    );

  test("POST /api/messages returns 202 + id and the message is processed and persisted", async () => {
    const res = await post({ user: { id: "visitor-1", name: "Ann" }, message: { text: "  Where is my refund?  " } });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; conversation_id: string };
    expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.conversation_id).toBe("chat:visitor-1");
    const row = await waitFor(async () => (await svc.parts.store.db.select().from(results).where(eq(results.messageId, body.id)))[0], 10_000, "result row");
    expect((row.outputs as { length: { chars: number } }).length.chars).toBe("Where is my refund?".length);
  });

  test("rejects requests without a valid API key", async () => {
    expect((await post({ user: { id: "v" }, message: { text: "hi" } }, null)).status).toBe(401);
    expect((await post({ user: { id: "v" }, message: { text: "hi" } }, "wrong-key-0123456789")).status).toBe(401);
  });

  test("invalid payloads get 4xx with a clear error per field", async () => {
    const bad = await post({ source: "email", user: { id: "" }, message: { text: "x".repeat(20_001) } });
    expect(bad.status).toBe(422);
    const e = (await bad.json()) as { error: { code: string; details: { path: string }[] } };
    expect(e.error.code).toBe("invalid_message");
    expect(e.error.details.map((d) => d.path).sort()).toEqual(["/message/text", "/user/id"]);
    expect((await post({ source: "fax", user: { id: "v" }, message: { text: "hi" } })).status).toBe(422);
    expect((await post("{not json")).status).toBe(400);
    expect((await post([1, 2])).status).toBe(400);
  });

  test("health, readiness and metrics", async () => {
    expect((await svc.app!.handle(new Request("http://local/health"))).status).toBe(200);
    const ready = await svc.app!.handle(new Request("http://local/ready"));
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: Record<string, boolean> }).checks).toEqual({ bus: true, database: true, sessions: true });
    const metrics = await (await svc.app!.handle(new Request("http://local/metrics"))).text();
    expect(metrics).toContain("copilot_messages_ingested_total");
    expect(metrics).toContain("copilot_worker_duration_seconds");
  });

  test("chat WebSocket: customer sends, gets an ack and then its own result, never another visitor's", async () => {
    const open = (visitor: string) =>
      new Promise<{ ws: WebSocket; events: Record<string, unknown>[] }>((resolve, reject) => {
        const ws = new WebSocket(`ws://${base}/api/chat/ws?visitor=${visitor}`);
        const events: Record<string, unknown>[] = [];
        ws.onmessage = (m) => events.push(JSON.parse(String(m.data)));
        ws.onopen = () => resolve({ ws, events });
        ws.onerror = () => reject(new Error("ws error"));
      });
    const a = await open("visitor-aaaa1111");
    const b = await open("visitor-bbbb2222");
    a.ws.send(JSON.stringify({ type: "message", text: "My card is blocked", client_id: "c1" }));
    const ack = await waitFor(() => a.events.find((e) => e.type === "ack"), 5000, "ack");
    expect(ack.client_id).toBe("c1");
    const result = await waitFor(() => a.events.find((e) => e.type === "result"), 10_000, "result");
    expect(result.message_id).toBe(ack.id);
    // The customer sees no internal analysis.
    expect(result.outputs).toBeUndefined();
    expect(b.events.filter((e) => e.type === "result")).toEqual([]);
    a.ws.send(JSON.stringify({ type: "message", text: "" }));
    const error = await waitFor(() => a.events.find((e) => e.type === "error"), 5000, "error");
    expect(error.code).toBe("invalid_message");
    a.ws.close();
    b.ws.close();
  });

  test("chat WebSocket refuses a malformed visitor id", async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`ws://${base}/api/chat/ws?visitor=${encodeURIComponent("<script>")}`);
      ws.onopen = () => resolve(false);
      ws.onerror = () => resolve(true);
      ws.onclose = () => resolve(true);
    });
    expect(closed).toBe(true);
  });
});

describe("/metrics with METRICS_TOKEN", () => {
  test("requires the bearer token when one is configured", async () => {
    const svc = await startService(await openParts(testConfig({ METRICS_TOKEN: "metrics-token-0123456789" })), []);
    try {
      const get = (auth?: string) => svc.app!.handle(new Request("http://local/metrics", { headers: auth ? { authorization: auth } : {} }));
      expect((await get()).status).toBe(401);
      expect((await get("Bearer wrong-token-0123456789")).status).toBe(401);
      const ok = await get("Bearer metrics-token-0123456789");
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("copilot_messages_consumed_total");
      expect((await svc.app!.handle(new Request("http://local/health"))).status).toBe(200);
    } finally {
      await svc.stop();
    }
  });
});

describe("reply stream to the customer's socket", () => {
  test("only drafts marked customer-visible are streamed, and a held-back draft is retracted", async () => {
    const { customerStream } = await import("../../src/ingest/chat.ts");
    const frames: Record<string, unknown>[] = [];
    const on = customerStream((f) => frames.push(f));
    on({ type: "reply.start", message_id: "m1", customer_visible: false });
    on({ type: "reply.delta", message_id: "m1", text: "internal draft" });
    on({ type: "reply.end", message_id: "m1", retract: false });
    on({ type: "reply.start", message_id: "m2", customer_visible: true });
    on({ type: "reply.delta", message_id: "m2", text: "Hello" });
    on({ type: "reply.end", message_id: "m2", retract: true });
    on({ type: "reply.delta", message_id: "m2", text: " late" });
    expect(frames).toEqual([
      { type: "reply.delta", message_id: "m2", delta: "Hello" },
      { type: "reply.retract", message_id: "m2" },
    ]);
  });
});
