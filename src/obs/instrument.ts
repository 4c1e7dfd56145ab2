import { SpanKind, SpanStatusCode, trace, type Attributes } from "@opentelemetry/api";
import type { Histogram } from "prom-client";

const tracer = () => trace.getTracer("support-copilot");

/** How calls on one dependency are recorded: the histogram, its fixed labels and the span attributes. */
export interface InstrumentOptions {
  /** Span name prefix, e.g. `redis` gives `redis get`. */
  name: string;
  histogram: Histogram<string>;
  labels?: Record<string, string>;
  attributes?: Attributes;
  /** Methods to leave alone (cheap accessors, close). */
  skip?: string[];
}

/**
 * Wraps every method of a dependency client (session store, database store) so that each call that returns a
 * promise is timed into a histogram (`operation`, `outcome` labels) and traced as a client span.
 * Non-function properties pass through untouched, and methods run against the real object (not the proxy).
 * Only the method name is recorded: arguments (which may carry message text or ids) never are.
 */
export function instrument<T extends object>(target: T, o: InstrumentOptions): T {
  const skip = new Set(["constructor", "close", ...(o.skip ?? [])]);
  const cache = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string" || skip.has(prop) || prop.startsWith("_")) return value;
      let wrapped = cache.get(prop);
      if (!wrapped) {
        const fn = value as (...args: unknown[]) => unknown;
        wrapped = function (this: unknown, ...args: unknown[]) {
          const started = performance.now();
          const span = tracer().startSpan(`${o.name} ${prop}`, { kind: SpanKind.CLIENT, attributes: { ...o.attributes, "code.function": prop } });
          const done = (outcome: "ok" | "error", e?: unknown) => {
            o.histogram.observe({ ...o.labels, operation: prop, outcome }, (performance.now() - started) / 1000);
            if (e) {
              span.setStatus({ code: SpanStatusCode.ERROR, message: (e as { code?: string }).code ?? (e as Error).name ?? "error" });
            }
            span.end();
          };
          let out: unknown;
          try {
            out = fn.apply(t, args);
          } catch (e) {
            done("error", e);
            throw e;
          }
          if (out && typeof (out as Promise<unknown>).then === "function") {
            return (out as Promise<unknown>).then(
              (v) => {
                done("ok");
                return v;
              },
              (e) => {
                done("error", e);
                throw e;
              },
            );
          }
          span.end();
          return out;
        };
        cache.set(prop, wrapped);
      }
      return wrapped;
    },
  });
}
