import { describe, expect, test } from "bun:test";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import type { Agent, ResultEvent } from "../../src/agents/types.ts";
import { loadConfig } from "../../src/config.ts";
import { ok } from "../../src/errors.ts";
import { createLogger } from "../../src/obs/log.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { initTracing, shutdownTracing, traceBus } from "../../src/obs/tracing.ts";
import { MemoryBus } from "../../src/bus/memory.ts";
import { MessagePublisher } from "../../src/ingest/publisher.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { rand, testWith } from "../support/env.ts";

const SECRET_TEXT = "my card 4111 1111 1111 1111 was declined, mail me at ann@example.com";

const agents: Agent[] = [
  { name: "intent", run: async () => ok({ label: "card_declined" }) },
  { name: "sentiment", run: async () => ok({ label: "negative" }) },
  { name: "response", stage: 1, run: async (_m, ctx) => ok({ draft: `re: ${(ctx.previous.intent as { label: string }).label}` }) },
];

/** Runs one message through the whole service and returns the spans of its trace. */
async function traceOneMessage(env: Record<string, string>): Promise<{ spans: ReadableSpan[]; all: ReadableSpan[]; event: ResultEvent }> {
  const exporter = new InMemorySpanExporter();
  const config = loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent", ...env });
  initTracing(config.telemetry, undefined, exporter);
  let svc: Service | null = null;
  try {
    const parts = await openParts(config, { log: createLogger("silent"), metrics: new Metrics(false) });
    svc = await startService(parts, agents);
    const got = new Promise<ResultEvent>((resolve) => svc!.hub!.onAny((e) => e.type === "message.result" && resolve(e)));
    const res = await svc.publisher.submit({ source: "chat", user: { id: `u-${rand()}`, email: "ann@example.com" }, message: { text: SECRET_TEXT } });
    expect(res.ok).toBe(true);
    const event = await Promise.race([got, Bun.sleep(20_000).then(() => Promise.reject(new Error("no result event")))]);
    // The hub's consumer span ends right after it dispatched; give the exporter a moment.
    await Bun.sleep(100);
    const all = exporter.getFinishedSpans();
    const ingest = all.find((s) => s.name === "ingest" && s.attributes["message.id"] === event.message_id);
    expect(ingest).toBeDefined();
    const traceId = ingest!.spanContext().traceId;
    return { spans: all.filter((s) => s.spanContext().traceId === traceId), all, event };
  } finally {
    await svc?.stop();
    await shutdownTracing();
  }
}

function parentOf(spans: ReadableSpan[], s: ReadableSpan): ReadableSpan | undefined {
  const pid = s.parentSpanContext?.spanId;
  return spans.find((p) => p.spanContext().spanId === pid);
}

function checkTrace(spans: ReadableSpan[], all: ReadableSpan[], topics: { messages: string; responses: string }) {
  const byName = (n: string) => spans.find((s) => s.name === n);
  const ingest = byName("ingest")!;
  const publishIn = byName(`publish ${topics.messages}`)!;
  const consume = byName(`process ${topics.messages}`)!;
  const master = byName("master.process")!;
  const persist = byName("db saveProcessed")!;
  const publishOut = byName(`publish ${topics.responses}`)!;
  for (const [n, s] of Object.entries({ ingest, publishIn, consume, master, persist, publishOut })) expect(s, `${n} span in the message's trace`).toBeDefined();
  // ingest → publish → (record headers) → consume → persist/publish; and → master.process → each worker.
  expect(parentOf(spans, publishIn)).toBe(ingest);
  expect(parentOf(spans, consume)).toBe(publishIn);
  expect(parentOf(spans, master)).toBe(publishIn);
  expect(parentOf(spans, persist)).toBe(consume);
  expect(parentOf(spans, publishOut)).toBe(consume);
  for (const w of ["intent", "sentiment", "response"]) expect(parentOf(spans, byName(`worker ${w}`)!)).toBe(master);
  // The dashboard hub's consumer continues the same trace from the response-events headers.
  expect(parentOf(spans, byName(`process ${topics.responses}`)!)).toBe(publishOut);
  // No span anywhere carries the message text or the customer's email.
  const dump = JSON.stringify(all.map((s) => ({ n: s.name, a: s.attributes, e: s.events, st: s.status })));
  expect(dump).not.toContain("4111");
  expect(dump).not.toContain("ann@example.com");
  expect(dump).not.toContain("declined");
}

describe("tracing across the pipeline", () => {
  test("embedded bus: one trace from ingest through master, workers, persist and publish", async () => {
    const { spans, all } = await traceOneMessage({});
    checkTrace(spans, all, { messages: "customer-messages", responses: "response-events" });
  }, 30_000);

  testWith("kafka", "real Kafka: the context travels in the record headers", async () => {
    const id = rand();
    const topics = { messages: `cm-trace-${id}`, responses: `re-trace-${id}` };
    const { spans, all } = await traceOneMessage({
      KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
      KAFKA_GROUP_ID: `trace-${id}`,
      KAFKA_PARTITIONS: "1",
      TOPIC_CUSTOMER_MESSAGES: topics.messages,
      TOPIC_RESPONSE_EVENTS: topics.responses,
    });
    checkTrace(spans, all, topics);
    const consume = spans.find((s) => s.name === `process ${topics.messages}`)!;
    expect(consume.attributes["messaging.system"]).toBe("kafka");
  }, 45_000);

  test("without an endpoint tracing stays off and records carry no trace header", async () => {
    const config = loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent" });
    expect(config.telemetry.otlpEndpoint).toBeNull();
    expect(initTracing(config.telemetry)).toBe(false);
    const bus = traceBus(new MemoryBus());
    await bus.start([config.topics.messages]);
    const seen: Record<string, string>[] = [];
    const sub = await bus.subscribe({ groupId: "probe", topics: [config.topics.messages], handler: async (rs) => void seen.push(...rs.map((r) => r.headers ?? {})) });
    const publisher = new MessagePublisher(bus, config.topics.messages, config.limits, new Metrics(false));
    expect((await publisher.submit({ source: "chat", user: { id: "u1" }, message: { text: "hello" } })).ok).toBe(true);
    for (let i = 0; i < 100 && seen.length === 0; i++) await Bun.sleep(10);
    expect(seen.length).toBe(1);
    expect(seen[0]!.traceparent).toBeUndefined();
    expect(seen[0]!["message-id"]).toBeString();
    await sub.stop();
    await bus.stop();
  }, 20_000);
});

describe("telemetry config", () => {
  test("OTLP endpoint, headers from a file, sample ratio and Sentry DSN are parsed; bad values are reported", async () => {
    const dir = `/tmp/otel-${rand()}`;
    await Bun.write(`${dir}/headers`, "authorization=Bearer%20s3cr3t,x-tenant=acme\n");
    const c = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/", OTEL_EXPORTER_OTLP_HEADERS_FILE: `${dir}/headers`, OTEL_TRACES_SAMPLER_ARG: "0.25", SENTRY_DSN: "https://k@sentry.example/1" });
    expect(c.telemetry.otlpEndpoint).toBe("http://collector:4318/v1/traces");
    expect(c.telemetry.otlpHeaders).toEqual({ authorization: "Bearer s3cr3t", "x-tenant": "acme" });
    expect(c.telemetry.sampleRatio).toBe(0.25);
    expect(c.telemetry.sentryDsn).toBe("https://k@sentry.example/1");
    expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/custom" }).telemetry.otlpEndpoint).toBe("http://c:4318/custom");
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: "2" })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() => loadConfig({ SENTRY_DSN: "ftp://x" })).toThrow(/SENTRY_DSN/);
  });
});
