import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Link, type Span } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, TracerProvider, type SpanExporter } from "@opentelemetry/sdk-trace";
import type { EventBus, InRecord, OutRecord, SubscribeOptions, Subscription } from "../bus/interface.ts";
import type { Config } from "../config.ts";
import type { Logger } from "./log.ts";

/** The tracer every module uses; a no-op until `initTracing` registers a provider. */
export const tracer = () => trace.getTracer("support-copilot");

let provider: TracerProvider | null = null;
let contextReady = false;

/** Registers the async context manager and the W3C propagator (cheap; needed so spans nest across awaits). */
function ensureContext(): void {
  if (contextReady) return;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  contextReady = true;
}

/**
 * Starts OpenTelemetry tracing when an OTLP endpoint is configured (or a test passes an exporter); otherwise
 * nothing is registered and every span below is a no-op. Returns true when spans are recorded.
 */
export function initTracing(t: Config["telemetry"], log?: Logger, exporter?: SpanExporter): boolean {
  if (provider) return true;
  if (!t.otlpEndpoint && !exporter) return false;
  ensureContext();
  const processor = exporter
    ? new SimpleSpanProcessor({ exporter })
    : new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: t.otlpEndpoint!, headers: t.otlpHeaders, timeoutMillis: 10_000 }), maxQueueSize: 4096 });
  provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": t.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(t.sampleRatio) }),
    spanProcessors: [processor],
  });
  trace.setGlobalTracerProvider(provider);
  log?.info({ component: "tracing", endpoint: exporter ? "test exporter" : t.otlpEndpoint, sample: t.sampleRatio }, "OpenTelemetry tracing on");
  return true;
}

/** Flushes and stops the tracer provider (called on shutdown so the last spans are exported). */
export async function shutdownTracing(): Promise<void> {
  const p = provider;
  provider = null;
  if (!p) return;
  await p.shutdown().catch(() => {});
  trace.disable();
}

/** Runs `fn` inside a new span (child of `parent` or the active context); errors set the span status and rethrow. */
export async function withSpan<T>(name: string, opts: { kind?: SpanKind; attributes?: Attributes; links?: Link[]; parent?: Context }, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes, links: opts.links }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (e) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode(e) });
    throw e;
  } finally {
    span.end();
  }
}

/** The trace context carried in a record's headers (W3C `traceparent`), or the root context when absent. */
export function contextFromHeaders(headers: Record<string, string> | undefined): Context {
  if (!headers?.traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** Copies headers and adds the active trace context to them. */
export function injectHeaders(headers: Record<string, string> | undefined, ctx: Context = context.active()): Record<string, string> {
  const out: Record<string, string> = { ...(headers ?? {}) };
  propagation.inject(ctx, out);
  return out;
}

/** Only an error's code or class goes into span status: messages can quote customer text. */
function errorCode(e: unknown): string {
  return (e as { code?: string })?.code ?? (e as Error)?.name ?? "error";
}

/**
 * Wraps an event bus so that publishing creates a producer span and writes its context into every record's
 * headers, and consuming creates a consumer span per batch whose parent is the first record's context (linked
 * to the others), so one trace runs ingest → Kafka → master → workers → persist → publish → hub.
 */
export function traceBus(bus: EventBus): EventBus {
  const system = bus.kind === "kafka" ? "kafka" : "in-memory";
  return {
    kind: bus.kind,
    start: (topics) => bus.start(topics),
    ping: () => bus.ping(),
    stop: () => bus.stop(),
    publish: (topic: string, records: OutRecord[]) =>
      withSpan(
        `publish ${topic}`,
        { kind: SpanKind.PRODUCER, attributes: { "messaging.system": system, "messaging.destination.name": topic, "messaging.batch.message_count": records.length } },
        async () => bus.publish(topic, records.map((r) => ({ ...r, headers: injectHeaders(r.headers) }))),
      ),
    subscribe: (opts: SubscribeOptions): Promise<Subscription> =>
      bus.subscribe({
        ...opts,
        handler: (records: InRecord[]) => {
          const contexts = records.map((r) => contextFromHeaders(r.headers));
          const links: Link[] = [];
          for (const c of contexts.slice(1)) {
            const sc = trace.getSpanContext(c);
            if (sc) links.push({ context: sc });
          }
          const first = records[0];
          return withSpan(
            `process ${first?.topic ?? opts.topics.join(",")}`,
            {
              kind: SpanKind.CONSUMER,
              parent: contexts[0] ?? ROOT_CONTEXT,
              links: links.slice(0, 128),
              attributes: {
                "messaging.system": system,
                "messaging.destination.name": first?.topic ?? "",
                "messaging.consumer.group.name": opts.groupId,
                "messaging.destination.partition.id": String(first?.partition ?? ""),
                "messaging.batch.message_count": records.length,
              },
            },
            () => opts.handler(records),
          );
        },
      }),
  };
}

export { SpanKind, SpanStatusCode };
