import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { Elysia } from "elysia";
import { sign, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookRoutes } from "../../src/channels/social/webhook.ts";
import { results } from "../../src/db/schema.ts";
import { KafkaBus } from "../../src/bus/kafka.ts";
import { buildApp } from "../../src/http/app.ts";
import { chatRoutes } from "../../src/ingest/chat.ts";
import { MessagePublisher } from "../../src/ingest/publisher.ts";
import type { ResultHub } from "../../src/realtime/hub.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { DEFAULT_LIMITS, parseCustomerMessage } from "../../src/schema/message.ts";
import { findTextProblems, sanitizeDeep } from "../../src/schema/text.ts";
import { busWithCollector, channelStore, openTestStore, rand } from "../channels/helpers.ts";
import { sampleMessage, testConfig, testLog, waitFor } from "../support/env.ts";

const KEY = "test-key-0123456789abcdef";

describe("refused characters", () => {
  test("NUL, other C0/C1 controls and lone surrogates are refused with the field named; tab, LF and CR pass", () => {
    for (const [text, what] of [["hi\u0000 there", "U+0000"], ["a\u001bb", "U+001B"], ["x\u0085y", "U+0085"], ["lone \uD800 high", "lone surrogate"], ["lone \uDC00 low", "lone surrogate"]] as const) {
      const r = parseCustomerMessage(sampleMessage({ message: { text, attachments: [] } }));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.status).toBe(400);
        expect(r.error.code).toBe("invalid_characters");
        expect(r.error.details).toEqual([{ path: "/message/text", message: expect.stringContaining(what) }]);
      }
    }
    expect(parseCustomerMessage(sampleMessage({ message: { text: "line 1\r\n\tline 2 😀", attachments: [] } })).ok).toBe(true);
    expect(findTextProblems({ metadata: { "k\u0000": "v", ok: ["a", "b\u0007"] } })).toEqual([
      { path: "/metadata/k\u0000", message: expect.stringContaining("key contains control character U+0000") },
      { path: "/metadata/ok/1", message: expect.stringContaining("U+0007") },
    ]);
  });

  test("sanitizeDeep removes controls, replaces lone surrogates and says what it did per field", () => {
    const { value, notes } = sanitizeDeep({ message: { text: "a\u0000b\u0000c \uD83D" } }, "");
    expect(value).toEqual({ message: { text: "abc \uFFFD" } });
    expect(notes).toEqual(["message.text: 2 control characters removed, 1 lone surrogate replaced"]);
  });
});

describe("edges over HTTP (embedded parts)", () => {
  let svc: Service;
  const post = (body: BodyInit, headers: Record<string, string> = {}) =>
    svc.app!.handle(new Request("http://local/api/messages", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, ...headers }, body }));

  beforeAll(async () => {
    svc = await startService(await openParts(testConfig({ API_KEYS: KEY, HTTP_MAX_BODY_BYTES: "65536" })), []);
  });
  afterAll(async () => {
    await svc.stop();
  });

  test('POST /api/messages with text "hi\\u0000 there" is a 400 naming message.text, and nothing is published', async () => {
    const res = await post(JSON.stringify({ user: { id: "v-nul" }, message: { text: "hi\u0000 there" } }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: { path: string }[] } };
    expect(body.error.code).toBe("invalid_characters");
    expect(body.error.details[0]!.path).toBe("/message/text");
    const okRes = await post(JSON.stringify({ user: { id: "v-nul" }, message: { text: "hi there" } }));
    expect(okRes.status).toBe(202);
    const { id } = (await okRes.json()) as { id: string };
    await waitFor(async () => (await svc.parts.store.db.select().from(results).where(eq(results.messageId, id)))[0], 10_000, "the next message processed");
  });

  test("invalid UTF-8 bytes are a 400 invalid_utf8, not silently replaced", async () => {
    const good = new TextEncoder().encode(JSON.stringify({ user: { id: "v" }, message: { text: "caf__" } }));
    const i = good.indexOf(0x5f);
    good[i] = 0xc3;
    good[i + 1] = 0x28;
    const res = await post(good);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_utf8");
  });

  test("a body over HTTP_MAX_BODY_BYTES is a 413, and deeply nested JSON is a clear 4xx", async () => {
    const big = JSON.stringify({ user: { id: "v" }, message: { text: "x".repeat(70_000) } });
    const res = await post(big);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
    const deep = `{"user":{"id":"v"},"message":{"text":"hi"},"metadata":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    const d = await post(deep);
    expect(d.status).toBeGreaterThanOrEqual(400);
    expect(d.status).toBeLessThan(500);
  });
});

describe("signed webhook edge", () => {
  const SECRET = "whsec-test-0123456789abcdef";
  const source = `tool${rand()}`;

  test("invalid UTF-8 in a signed delivery is repaired and recorded; an oversized one is a 413", async () => {
    const db = await openTestStore();
    const bus = await busWithCollector();
    try {
      const routes = webhookRoutes({ publisher: bus.publisher, store: channelStore(db), limits: DEFAULT_LIMITS, log: testLog, secrets: { [source]: [SECRET] }, toleranceSeconds: 300, maxBodyBytes: 4096 });
      const app = buildApp({ log: testLog, metrics: new Metrics(false), checks: [], features: [routes as unknown as Elysia] });
      const send = (bytes: Uint8Array) => {
        const ts = String(Math.floor(Date.now() / 1000));
        return app.handle(new Request(`http://local/api/channels/webhooks/${source}`, { method: "POST", headers: { "content-type": "application/json", [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: sign(SECRET, ts, bytes) }, body: bytes as unknown as BodyInit }));
      };
      const raw = new TextEncoder().encode(JSON.stringify({ id: `evt-${rand()}`, network: "ig", author: { id: "a1" }, text: "bad \u0000 byte: ##" }));
      const at = raw.lastIndexOf(0x23);
      raw[at - 1] = 0xff;
      raw[at] = 0xfe;
      const res = await send(raw);
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      await bus.waitForCount(1);
      const m = bus.messages().find((x) => x.id === id)!;
      expect(m.message.text).toBe("bad  byte: \uFFFD\uFFFD");
      expect((m.metadata as { sanitized?: string[] }).sanitized).toEqual(["body: invalid UTF-8 replaced with U+FFFD", "message.text: 1 control character removed"]);
      const big = new TextEncoder().encode(JSON.stringify({ id: "evt-big", author: { id: "a" }, text: "x".repeat(5000) }));
      expect((await send(big)).status).toBe(413);
    } finally {
      await bus.close();
      await db.close();
    }
  });
});

describe("bounded publish queue", () => {
  test("with the broker unreachable, producers beyond the queue bound get a retriable 503 with Retry-After at once", async () => {
    const kafka = new KafkaBus({ brokers: ["127.0.0.1:1"], clientId: `t-${rand()}`, groupId: "g", ssl: false, partitions: 1, sessionTimeoutMs: 10_000 }, testLog, 3);
    // A broker that never answers (kafkajs would keep retrying the send for a long time).
    (kafka as unknown as { producer: { send: () => Promise<never> } }).producer = { send: () => new Promise<never>(() => {}) };
    const rec = { key: "k", value: "{}" };
    // One send in flight plus three waiting fill the bound; publish() queues synchronously, so this is deterministic.
    const held = [0, 1, 2, 3].map(() => kafka.publish("m", [rec]).catch((e) => e));
    const overflow = await kafka.publish("m", [rec]).then(
      () => null,
      (e) => e,
    );
    expect(overflow?.code).toBe("publish_queue_full");
    expect(overflow?.retriable).toBe(true);
    const publisher = new MessagePublisher(kafka, "m", DEFAULT_LIMITS, new Metrics(false));
    const routes = chatRoutes({ publisher, hub: {} as ResultHub, apiKeys: [], metrics: new Metrics(false), log: testLog });
    const app = buildApp({ log: testLog, metrics: new Metrics(false), checks: [], features: [routes as unknown as Elysia] });
    const res = await app.handle(new Request("http://local/api/messages", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: { id: "u" }, message: { text: "hello" } }) }));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("publish_queue_full");
    void held;
  });
});
