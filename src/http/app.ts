import { type AnyElysia, Elysia, t } from "elysia";
import { AppError } from "../errors.ts";
import { requireApiKey } from "./auth.ts";
import { apiDocsRoutes, doc } from "./openapi.ts";
import { RateLimited, type AbuseGuard } from "../ratelimit/guard.ts";
import type { Logger } from "../obs/log.ts";
import type { Metrics } from "../obs/metrics.ts";

/** A dependency the readiness probe checks. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean>;
}

/** Dependencies of the HTTP shell. */
export interface AppDeps {
  log: Logger;
  metrics: Metrics;
  checks: ReadinessCheck[];
  /** When set, /metrics requires `Authorization: Bearer <token>` (Prometheus `authorization` / `bearer_token`). */
  metricsToken?: string | null;
  /** Feature plugins (chat, dashboard, channels...), each an Elysia instance with its own name and prefix. */
  features: Elysia<any, any, any, any, any, any, any>[];
  /** When set, callers in its penalty box are refused before routing (see AbuseGuard.early). */
  guard?: AbuseGuard;
  /**
   * Largest WebSocket frame the server accepts; a bigger one closes the socket with 1009. Server-wide: Bun applies
   * one websocket configuration to every route, and per-route options (`.ws(path, { maxPayloadLength })`) are ignored.
   */
  wsMaxPayloadBytes?: number;
}

const ReadyBody = t.Object({ status: t.Union([t.Literal("ready"), t.Literal("not_ready")]), checks: t.Record(t.String(), t.Boolean()) });

/** Builds the HTTP app: error mapping, health/readiness/metrics, then every feature plugin. */
export function buildApp(d: AppDeps) {
  const guard = d.guard;
  let app = new Elysia({ name: "app", ...(d.wsMaxPayloadBytes ? { websocket: { maxPayloadLength: d.wsMaxPayloadBytes } } : {}) })
    .onRequest(({ request, server }) => (guard ? guard.early(request, server) : undefined))
    .onError(({ code, error, set }) => {
      if (error instanceof AppError) {
        set.status = error.status;
        if (error instanceof RateLimited) Object.assign(set.headers, error.headers);
        // A retriable 503 (bus down, publish queue full) tells the client when to come back.
        if (error.status === 503 && error.retriable) set.headers["retry-after"] = String((error.details as { retry_after_s?: number } | undefined)?.retry_after_s ?? 5);
        if (error.status >= 500) d.log.error({ code: error.code, err: error.message }, "request failed");
        return error.toJSON();
      }
      if (code === "NOT_FOUND") {
        set.status = 404;
        return { error: { code: "not_found", message: "no such route" } };
      }
      if (code === "VALIDATION") {
        set.status = 422;
        return { error: { code: "invalid_request", message: "request failed validation" } };
      }
      if (code === "PARSE") {
        set.status = 400;
        return { error: { code: "invalid_body", message: "body is not valid JSON" } };
      }
      d.log.error({ code: String(code), err: (error as Error)?.message }, "unhandled error");
      set.status = 500;
      return { error: { code: "internal", message: "internal error" } };
    })
    .get("/health", () => ({ status: "ok" as const }), {
      detail: doc({ summary: "Liveness: the process answers", tag: "ops", auth: "public" }),
      response: { 200: t.Object({ status: t.Literal("ok") }) },
    })
    .get(
      "/ready",
      async ({ set }) => {
        const results = await Promise.all(d.checks.map(async (c) => [c.name, await c.check().catch(() => false)] as const));
        const ready = results.every(([, ok]) => ok);
        set.status = ready ? 200 : 503;
        return { status: ready ? ("ready" as const) : ("not_ready" as const), checks: Object.fromEntries(results) };
      },
      {
        detail: doc({ summary: "Readiness: every dependency (bus, database, Redis...) answers", tag: "ops", auth: "public" }),
        response: { 200: ReadyBody, 503: ReadyBody },
      },
    )
    .get(
      "/metrics",
      async ({ set, request }) => {
        if (d.metricsToken) requireApiKey([d.metricsToken], request.headers);
        set.headers["content-type"] = d.metrics.registry.contentType;
        return d.metrics.registry.metrics();
      },
      { detail: doc({ summary: "Prometheus metrics (text exposition format)", tag: "ops", auth: "metrics", produces: { type: "text/plain", description: "Prometheus text format." } }) },
    );
  for (const f of d.features) app = app.use(f) as unknown as typeof app;
  return app.use(apiDocsRoutes(() => app as unknown as AnyElysia));
}
