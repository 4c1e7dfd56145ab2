import { describe, expect, test } from "bun:test";
import { MemoryBus } from "../../src/bus/memory.ts";
import { tailJson } from "../../src/bus/tail.ts";
import type { Logger } from "../../src/obs/log.ts";
import { ResultHub } from "../../src/realtime/hub.ts";
import { checkContract, checks, failuresOf, outputOf, outputsOf, ResultEventSchema, reviewOf, type ResultEvent } from "../../src/schema/events.ts";
import { SOURCES } from "../../src/schema/message.ts";
import { parseTurn } from "../../src/session/interface.ts";
import { replyMemoryOf } from "../../src/agents/response/memory.ts";

const SECRET = "my card is 4111 1111 1111 1111 and my name is Zed Secret";

const result = (over: Partial<ResultEvent> = {}): ResultEvent => ({
  type: "message.result",
  message_id: crypto.randomUUID(),
  conversation_id: "chat:contracts-1",
  source: "chat",
  user: { id: "contracts-1" },
  text: SECRET,
  received_at: new Date().toISOString(),
  processed_at: new Date().toISOString(),
  outputs: { intent: { label: "refund_request", confidence: 0.9 }, reply: { text: "Hello", status: "draft" } },
  failures: [],
  degraded: false,
  timings: { total_ms: 1, workers: {} },
  ...over,
});

/** A logger that keeps every line it is given, to check what reaches the logs. */
function recordingLog() {
  const lines: string[] = [];
  const put = (o: unknown, msg?: string) => lines.push(`${JSON.stringify(o)} ${msg ?? ""}`);
  const log = { warn: put, info: put, error: put, debug: put, child: () => log } as unknown as Logger;
  return { log, lines };
}

describe("event contracts (src/schema/events.ts)", () => {
  test("the result contract's channels are the message schema's", () => {
    const literals = (ResultEventSchema.properties.source.anyOf as { const: string }[]).map((s) => s.const);
    expect(literals.sort()).toEqual([...SOURCES].sort());
  });

  test("a result that breaks the contract is refused with the path and rule, never its content", () => {
    expect(checkContract(checks.resultEvent, result(), "result").ok).toBe(true);
    const broken = { ...result(), message_id: 42 };
    const r = checkContract(checks.resultEvent, broken, "result");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("invalid_event");
    expect(r.error.message).toContain("/message_id");
    expect(r.error.message).not.toContain("Zed");
    expect(checkContract(checks.responseEvent, { type: "reply.sent", reply_id: "r1", message_id: null, conversation_id: "c", channel: "chat", text: "hi", sent_at: "now" }, "event").ok).toBe(true);
    expect(checkContract(checks.responseEvent, { type: "privacy.erase", ticket_ids: ["a"], at: "now" }, "event").ok).toBe(true);
    expect(checkContract(checks.responseEvent, { type: "reply.delta", conversation_id: "c", message_id: "m", seq: 0, text: "x" }, "event").ok).toBe(false);
    expect(checkContract(checks.replyStreamEvent, { type: "reply.delta", conversation_id: "c", message_id: "m", seq: 0, text: "x" }, "event").ok).toBe(true);
  });

  test("worker outputs are read through their contracts: the one review shape, malformed outputs read as absent", () => {
    const at = new Date().toISOString();
    const decided = { reply: { text: "Hi", status: "approved", review: { action: "edited", by: "ada@example.com", at } } };
    expect(reviewOf(decided)).toEqual({ action: "edited", by: "ada@example.com", at });
    expect(outputOf(decided, "reply")?.text).toBe("Hi");
    // A review without who/when, or with an action that is not a decision, is not a decision.
    expect(reviewOf({ reply: { text: "Hi", status: "approved", review: { action: "approved" } } })).toBeNull();
    expect(reviewOf({ reply: { text: "Hi", status: "approved", review: { action: "sent", by: "x", at } } })).toBeNull();
    expect(outputOf({ intent: { label: 7 } }, "intent")).toBeNull();
    expect(outputOf({}, "intent")).toBeNull();
    expect(outputsOf([1, 2])).toEqual({});
    expect(failuresOf([{ worker: "w", code: "c", message: "m", attempts: 1 }, { worker: 1 }, "x"])).toEqual([{ worker: "w", code: "c", message: "m", attempts: 1 }]);
  });

  test("a tailing consumer skips and counts records that are not JSON or break the contract, logs no content, and keeps consuming", async () => {
    const bus = new MemoryBus();
    await bus.start(["events"]);
    const { log, lines } = recordingLog();
    const got: ResultEvent[] = [];
    const sub = await tailJson(bus, "events", "g", (v) => checkContract(checks.resultEvent, v, "result"), (ev) => got.push(ev), log, "test");
    const good = result();
    await bus.publish("events", [
      { key: "c", value: "{not json" },
      { key: "c", value: JSON.stringify({ ...result(), degraded: "yes" }) },
      { key: "c", value: JSON.stringify(good) },
    ]);
    for (let i = 0; i < 200 && got.length === 0; i++) await Bun.sleep(5);
    expect(got.map((e) => e.message_id)).toEqual([good.message_id]);
    expect(sub.invalid()).toBe(2);
    expect(lines.some((l) => l.includes("/degraded"))).toBe(true);
    expect(lines.join("\n")).not.toContain("Zed");
    await sub.stop();
  });

  test("the result hub dispatches results and reply.sent, skips privacy announcements and counts broken records", async () => {
    const bus = new MemoryBus();
    await bus.start(["responses"]);
    const { log } = recordingLog();
    const hub = new ResultHub(bus, "responses", "hub", log);
    await hub.start();
    const seen: string[] = [];
    hub.onAny((ev) => seen.push(ev.type));
    await bus.publish("responses", [
      { key: "c", value: JSON.stringify(result()) },
      { key: "privacy", value: JSON.stringify({ type: "privacy.purge", before: new Date().toISOString(), at: new Date().toISOString() }) },
      { key: "c", value: JSON.stringify({ type: "reply.sent", reply_id: crypto.randomUUID(), message_id: null, conversation_id: "c", channel: "chat", text: "hi", sent_at: new Date().toISOString() }) },
      { key: "c", value: JSON.stringify({ type: "message.result", message_id: "x" }) },
    ]);
    for (let i = 0; i < 200 && seen.length < 2; i++) await Bun.sleep(5);
    await Bun.sleep(20);
    expect(seen).toEqual(["message.result", "reply.sent"]);
    expect(hub.invalid).toBe(1);
    await hub.stop();
  });

  test("session data read back from Redis is checked: malformed turns and memory keys read as absent", () => {
    expect(parseTurn(JSON.stringify({ role: "customer", text: "hi", at: "2026-01-01T00:00:00Z" }))?.text).toBe("hi");
    expect(parseTurn(JSON.stringify({ role: "robot", text: "hi", at: "x" }))).toBeNull();
    expect(parseTurn("{oops")).toBeNull();
    const log = [{ message_id: "m", text: "t", status: "approved", at: "now" }];
    expect(replyMemoryOf({ reply_log: log, reply_language: 7, reply_summary: { text: "s" } })).toEqual({ reply_log: log });
  });
});
