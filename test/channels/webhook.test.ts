import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { sign, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookRoutes } from "../../src/channels/social/webhook.ts";
import type { ChannelStore } from "../../src/channels/store.ts";
import type { Store } from "../../src/db/store.ts";
import { buildApp } from "../../src/http/app.ts";
import { createLogger } from "../../src/obs/log.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { DEFAULT_LIMITS } from "../../src/schema/message.ts";
import { busWithCollector, channelStore, openTestStore, rand } from "./helpers.ts";

const log = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");
const SECRET = "whsec-test-0123456789abcdef";

describe("signed social webhook", () => {
  let db: Store;
  let store: ChannelStore;
  let bus: Awaited<ReturnType<typeof busWithCollector>>;
  let app: ReturnType<typeof buildApp>;
  let clock = Date.now();
  const source = `tool${rand()}`;

  beforeAll(async () => {
    db = await openTestStore();
    store = channelStore(db);
    bus = await busWithCollector();
    const routes = webhookRoutes({ publisher: bus.publisher, store, limits: DEFAULT_LIMITS, log, secrets: { [source]: ["old-secret-rotated-out-xx", SECRET] }, toleranceSeconds: 300, now: () => clock });
    app = buildApp({ log, metrics: new Metrics(false), checks: [], features: [routes as unknown as Elysia] });
  });
  afterAll(async () => {
    await bus?.close();
    await db?.close();
  });

  const post = (raw: string, headers: Record<string, string>, name = source) =>
    app.handle(new Request(`http://local/api/channels/webhooks/${name}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: raw }));
  const signed = (raw: string, at = clock) => {
    const ts = String(Math.floor(at / 1000));
    return { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: sign(SECRET, ts, raw) };
  };
  const event = (over: Record<string, unknown> = {}) =>
    JSON.stringify({ id: `evt-${rand()}`, network: "instagram", kind: "comment", author: { id: "ig-77", name: "Ivy", handle: "ivy" }, text: "Where is my parcel?", thread_id: "post-9", ...over });

  test("a correctly signed event is published once with a stable id and the thread as conversation", async () => {
    const raw = event({ id: "evt-1" });
    const res = await post(raw, signed(raw));
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; conversation_id: string };
    expect(body.conversation_id).toBe("social:instagram:post-9");
    await bus.waitForCount(1);
    const m = bus.messages().find((x) => x.id === body.id)!;
    expect(m.source).toBe("social");
    expect(m.user).toEqual({ id: "instagram:ig-77", name: "Ivy" });
    expect(m.message.text).toBe("Where is my parcel?");
    expect((m.metadata as unknown as { social: Record<string, unknown> }).social).toMatchObject({ network: "instagram", kind: "comment", post_id: "evt-1", webhook_source: source });
  });

  test("the exact same signed request replayed is acknowledged as a duplicate and not published again", async () => {
    const raw = event({ id: "evt-replay" });
    const headers = signed(raw);
    const before = bus.records.length;
    expect((await post(raw, headers)).status).toBe(202);
    await bus.waitForCount(before + 1);
    const again = await post(raw, headers);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { status: string }).status).toBe("duplicate");
    // A later, freshly signed delivery of the same event id is a duplicate too.
    clock += 5_000;
    expect(((await (await post(raw, signed(raw))).json()) as { status: string }).status).toBe("duplicate");
    const published = await new Promise<number>((r) => setTimeout(() => r(bus.records.length), 50));
    expect(published).toBe(before + 1);
  });

  test("tampered body, wrong secret, missing headers, stale or future timestamps are refused with 401", async () => {
    const raw = event();
    const h = signed(raw);
    const tampered = await post(raw.replace("parcel", "refund"), h);
    expect(tampered.status).toBe(401);
    expect(((await tampered.json()) as { error: { code: string } }).error.code).toBe("bad_signature");

    const ts = String(Math.floor(clock / 1000));
    expect((await post(raw, { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: sign("not-the-secret", ts, raw) })).status).toBe(401);
    expect((await post(raw, {})).status).toBe(401);

    const stale = await post(raw, signed(raw, clock - 301_000));
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe("stale_timestamp");
    expect((await post(raw, signed(raw, clock + 301_000))).status).toBe(401);
    // Re-signing an old body with a new timestamp needs the secret: moving only the header breaks the signature.
    const old = signed(raw, clock - 400_000);
    expect((await post(raw, { ...old, [TIMESTAMP_HEADER]: String(Math.floor(clock / 1000)) })).status).toBe(401);
  });

  test("a signed key-rotation secret is accepted; unknown sources are 404; invalid events are 422", async () => {
    const raw = event();
    const ts = String(Math.floor(clock / 1000));
    expect((await post(raw, { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: sign("old-secret-rotated-out-xx", ts, raw) })).status).toBe(202);
    expect((await post(raw, signed(raw), "nosuchsource")).status).toBe(404);
    const bad = JSON.stringify({ id: "x", author: {}, text: "" });
    const res = await post(bad, signed(bad));
    expect(res.status).toBe(422);
    const notJson = "{not json";
    expect((await post(notJson, signed(notJson))).status).toBe(400);
  });
});
