import { toOpenAPISchema } from "@elysiajs/openapi";
import { type AnyElysia, type DocumentDecoration, Elysia, t, type TSchema } from "elysia";
import pkg from "../../package.json" with { type: "json" };
import { ApiDocsPage } from "../../views/api-docs.tsx";
import { htmlResponse } from "../dashboard/http.ts";
import { widgetSocketSchema } from "../schema/widget-socket.ts";
import type { Scope } from "./auth.ts";

/** Where the machine-readable API description, the docs page and the socket protocol are served. */
export const DOCS_PATHS = { spec: "/openapi.json", page: "/docs", widgetSocket: "/schemas/widget-socket.json" } as const;

/** The error body every JSON route returns (AppError.toJSON, and the app's own 404/422/400/500 mapping). */
export const ErrorBody = t.Object(
  {
    error: t.Object({
      code: t.String({ description: "Stable machine-readable code, e.g. `unauthorized`, `rate_limited`, `invalid_message`." }),
      message: t.String(),
      details: t.Optional(t.Unknown({ description: "Validation problems ({path, message}[]) or limit facts." })),
    }),
  },
  { title: "Error" },
);

/** Who may call a route: nobody in particular, a dashboard session, an API key with a scope, or the other schemes. */
export type Auth = "public" | "session" | Scope | "metrics" | "signature";

/** Operation groups, in the order the docs page lists them. */
export const TAGS = [
  { name: "ingest", description: "Publishing customer messages (API key with the `ingest` scope)." },
  { name: "review", description: "Reading and deciding drafted replies (API key with the `review` scope)." },
  { name: "replies", description: "Sending approved replies on the message's channel (API key with the `reply` scope)." },
  { name: "webhooks", description: "Signed inbound webhooks from social tools (HMAC-SHA256 over timestamp and body)." },
  { name: "widget", description: "The customer chat widget: script, socket, history. Public; scoped by visitor id or signed identity token." },
  { name: "dashboard", description: "The agents' HTMX dashboard (HTML). Session cookie; every POST also needs the CSRF token." },
  { name: "ops", description: "Probes and metrics." },
  { name: "docs", description: "This description." },
] as const;

/** A route's tag. */
export type Tag = (typeof TAGS)[number]["name"];

const SECURITY_SCHEMES = {
  sessionCookie: {
    type: "apiKey",
    in: "cookie",
    name: "copilot_session",
    description:
      "Dashboard session from `POST /dashboard/login` (HttpOnly, SameSite=Strict; named `__Host-copilot_session` when DASHBOARD_COOKIE_SECURE=true). State-changing requests also need the CSRF token: form field `_csrf` or header `X-CSRF-Token`. Roles: agent < lead < admin.",
  },
  apiKey: {
    type: "http",
    scheme: "bearer",
    description:
      "An API key from API_KEYS (`name:scope1+scope2:secret`). The requirement lists the scope the route needs: `ingest` (publish messages), `review` (read/approve/edit/reject drafts), `reply` (send replies). 401 without a valid key, 403 when the key lacks the scope. With no keys configured (development only; production refuses to start) routes are open.",
  },
  apiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key", description: "The same API key in the X-API-Key header instead of Authorization: Bearer." },
  metricsToken: { type: "http", scheme: "bearer", description: "METRICS_TOKEN, required only when it is configured." },
  webhookSignature: {
    type: "apiKey",
    in: "header",
    name: "X-Copilot-Signature",
    description:
      "`sha256=<hex>` of HMAC-SHA256 over `<X-Copilot-Timestamp>.<raw body>` with the source's shared secret (SOCIAL_WEBHOOK_SECRETS); the timestamp (unix seconds) must be within the tolerance.",
  },
} as const;

const securityOf = (a: Auth): Record<string, string[]>[] => {
  switch (a) {
    case "public":
      return [];
    case "session":
      return [{ sessionCookie: [] }];
    case "metrics":
      return [{ metricsToken: [] }, {}];
    case "signature":
      return [{ webhookSignature: [] }];
    default:
      return [{ apiKey: [a] }, { apiKeyHeader: [a] }];
  }
};

const ERROR_TEXT: Record<number, string> = {
  400: "Malformed body (not JSON, not UTF-8, nested too deeply).",
  401: "Not authenticated.",
  403: "Authenticated, but not allowed (scope, role or CSRF token).",
  404: "No such resource.",
  409: "Conflicts with the current state (already decided, already sent).",
  413: "Body over the size limit.",
  422: "Failed validation.",
  429: "Rate limited: see Retry-After.",
  503: "A dependency is unavailable: retry after Retry-After.",
};

/** JSON Schema of a TypeBox schema for embedding in the document (TypeBox's symbol keys dropped). */
const plain = (s: TSchema): Record<string, unknown> => JSON.parse(JSON.stringify(s));

/** Non-JSON success responses, described by media type. */
type Produces = { status?: number; description: string; type?: "text/html" | "text/plain" | "text/javascript" | "text/css" | "application/x-ndjson" | "redirect" | "none" };

/**
 * The `detail` of a route: summary, tag, security requirement and documented error responses. JSON success bodies
 * come from the route's own `response` schema; `produces` documents the others (HTML pages, redirects, files).
 */
export function doc(o: {
  summary: string;
  description?: string;
  tag: Tag;
  auth: Auth;
  errors?: number[];
  produces?: Produces;
  /** A body the route reads itself (strict UTF-8, signed bytes): documented here, not validated by Elysia. */
  body?: { schema: TSchema; type?: "application/json" | "application/x-www-form-urlencoded" };
}): DocumentDecoration {
  const responses: Record<string, unknown> = {};
  if (o.produces) {
    const p = o.produces;
    const status = String(p.status ?? (p.type === "redirect" ? 303 : 200));
    responses[status] =
      p.type === "redirect"
        ? { description: p.description, headers: { location: { schema: { type: "string" } } } }
        : p.type === "none" || !p.type
          ? { description: p.description }
          : { description: p.description, content: { [p.type]: { schema: { type: "string" } } } };
  }
  const errors = new Set(o.errors ?? []);
  if (o.auth !== "public" && o.auth !== "metrics") errors.add(401);
  if (o.auth === "metrics") errors.add(401);
  if (o.auth !== "public" && o.auth !== "metrics" && o.auth !== "signature") errors.add(403);
  for (const code of [...errors].sort()) responses[String(code)] = { $ref: `#/components/responses/E${code}` };
  const requestBody = o.body ? { requestBody: { required: true, content: { [o.body.type ?? "application/json"]: { schema: plain(o.body.schema) } } } } : {};
  return { summary: o.summary, ...(o.description ? { description: o.description } : {}), tags: [o.tag], security: securityOf(o.auth), ...requestBody, "x-responses": responses } as unknown as DocumentDecoration;
}

type Operation = Record<string, unknown> & { responses?: Record<string, unknown>; "x-responses"?: Record<string, unknown> };

/**
 * The OpenAPI 3.1 document of every route registered on `app`, generated by @elysiajs/openapi from the routes'
 * TypeBox schemas and `detail`, then completed: error responses, security schemes, and WebSocket routes written
 * as the GET upgrade they are (OpenAPI has no WebSocket operation; their frames are in the linked JSON Schema).
 */
export function openApiDocument(app: AnyElysia): Record<string, unknown> {
  const { paths, components } = toOpenAPISchema(app, { methods: [], staticFile: false }, undefined, undefined, "3.1.1");
  const out: Record<string, Record<string, Operation>> = {};
  for (const [path, item] of Object.entries(paths as Record<string, Record<string, Operation>>)) {
    const ops: Record<string, Operation> = {};
    for (const [method, raw] of Object.entries(item)) {
      const op: Operation = { ...raw };
      const extra = op["x-responses"] ?? {};
      delete op["x-responses"];
      op.responses = { ...extra, ...(op.responses ?? {}) };
      if (method === "ws") {
        op.responses = { 101: { description: `Switching Protocols: a WebSocket. Frames: ${DOCS_PATHS.widgetSocket} for the chat socket.` }, ...op.responses };
        ops.get = op;
        continue;
      }
      if (Object.keys(op.responses).length === 0) op.responses = { 200: { description: "OK" } };
      ops[method] = op;
    }
    out[path] = ops;
  }
  return {
    openapi: "3.1.1",
    info: {
      title: "Support Copilot API",
      version: pkg.version,
      description: `Self-hosted real-time AI copilot for customer-support teams. Human-readable form: ${DOCS_PATHS.page}. Chat socket frames: ${DOCS_PATHS.widgetSocket}.`,
    },
    tags: TAGS,
    paths: out,
    components: {
      schemas: { ...(components.schemas ?? {}), Error: plain(ErrorBody) },
      securitySchemes: SECURITY_SCHEMES,
      responses: Object.fromEntries(
        Object.entries(ERROR_TEXT).map(([code, description]) => [`E${code}`, { description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } }]),
      ),
    },
  };
}

/**
 * `/openapi.json`, the docs page rendered on the server from the same document (no scripts, no CDN: it works
 * offline), and the chat socket protocol as JSON Schema. All public: they describe the API, they hold no data.
 * `app` is the finished app; the document is built on first request, once every route is registered.
 */
export function apiDocsRoutes(app: () => AnyElysia) {
  let spec: Record<string, unknown> | null = null;
  const document = () => (spec ??= openApiDocument(app()));
  return new Elysia({ name: "api-docs" })
    .get(DOCS_PATHS.spec, () => Response.json(document(), { headers: { "cache-control": "no-cache" } }), {
      detail: doc({ summary: "This API as an OpenAPI 3.1 document", tag: "docs", auth: "public", produces: { description: "The OpenAPI document (application/json)." } }),
    })
    .get(DOCS_PATHS.page, () => htmlResponse(ApiDocsPage({ spec: document() as never, links: DOCS_PATHS })), {
      detail: doc({ summary: "Human-readable API reference (server-rendered from /openapi.json)", tag: "docs", auth: "public", produces: { type: "text/html", description: "The docs page." } }),
    })
    .get(DOCS_PATHS.widgetSocket, () => Response.json(widgetSocketSchema(), { headers: { "content-type": "application/schema+json", "cache-control": "no-cache" } }), {
      detail: doc({ summary: "The chat socket protocol (client and server frames) as JSON Schema", tag: "docs", auth: "public", produces: { description: "JSON Schema 2020-12 (application/schema+json)." } }),
    });
}
