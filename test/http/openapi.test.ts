import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { ClientMessage, ServerFrame, widgetSocketSchema } from "../../src/schema/widget-socket.ts";
import { testAgents } from "../dashboard/harness.ts";
import { testConfig, waitFor } from "../support/env.ts";

const KEY = "openapi-test-key-0123456789";
const METRICS = "openapi-metrics-token-0123456789";

/**
 * Routes deliberately left out of /openapi.json, each with its reason. Empty: every route is documented
 * (WebSocket routes as their GET upgrade, static files and CORS preflights included).
 */
const UNDOCUMENTED: Record<string, string> = {};

type Op = { summary?: string; tags?: string[]; security?: Record<string, string[]>[]; responses?: Record<string, unknown> };
type Spec = { openapi: string; paths: Record<string, Record<string, Op>>; components: { securitySchemes: Record<string, unknown> } };

/** Whether a WebSocket to `url` opens (true) or is refused (false). */
function opens(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => {
      ws.close();
      resolve(true);
    };
    ws.onerror = () => resolve(false);
    ws.onclose = () => resolve(false);
  });
}

/** Elysia's `:id` path form as OpenAPI's `{id}`. */
const openApiPath = (p: string) => p.replace(/:([^/]+)/g, "{$1}");

describe("OpenAPI document, docs page and the chat socket schema (full app on embedded parts)", () => {
  let svc: Service;
  let spec: Spec;
  let base: string;
  const app = () => svc.app!;
  const get = (path: string, headers: Record<string, string> = {}) => app().handle(new Request(`http://local${path}`, { headers }));

  beforeAll(async () => {
    const config = testConfig({ API_KEYS: `tester:ingest+review+reply:${KEY}`, METRICS_TOKEN: METRICS, SOCIAL_WEBHOOK_SECRETS: "tool=webhook-secret-0123456789" });
    svc = await startService(await openParts(config), testAgents());
    const res = await get("/openapi.json");
    expect(res.status).toBe(200);
    spec = (await res.json()) as Spec;
    app().listen({ hostname: "127.0.0.1", port: 0 });
    base = `127.0.0.1:${app().server!.port}`;
  }, 60_000);
  afterAll(async () => {
    await svc?.app?.stop(true);
    await svc?.stop();
  });

  test("every registered route is in the spec with its method (WebSocket routes as GET)", () => {
    expect(spec.openapi).toStartWith("3.1.");
    const routes = app().routes.map((r) => ({ method: r.method.toLowerCase() === "ws" ? "get" : r.method.toLowerCase(), path: openApiPath(r.path) }));
    expect(routes.length).toBeGreaterThan(30);
    const missing = routes.filter((r) => !UNDOCUMENTED[`${r.method.toUpperCase()} ${r.path}`] && !spec.paths[r.path]?.[r.method]).map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
    // And nothing is documented that does not exist.
    const registered = new Set(routes.map((r) => `${r.method} ${r.path}`));
    const extra = Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)).filter((k) => !registered.has(k));
    expect(extra).toEqual([]);
  });

  test("every operation has a summary, one known tag, an explicit security requirement and responses", () => {
    const schemes = new Set(Object.keys(spec.components.securitySchemes));
    for (const [path, ops] of Object.entries(spec.paths))
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${path}`;
        expect({ where, summary: typeof op.summary === "string" && op.summary.length > 5 }).toEqual({ where, summary: true });
        expect({ where, tags: op.tags?.length }).toEqual({ where, tags: 1 });
        expect({ where, security: Array.isArray(op.security) }).toEqual({ where, security: true });
        for (const req of op.security ?? []) for (const s of Object.keys(req)) expect(schemes.has(s)).toBe(true);
        expect({ where, responses: Object.keys(op.responses ?? {}).length > 0 }).toEqual({ where, responses: true });
      }
    // The API key scopes are the route's own.
    expect(spec.paths["/api/messages"]!.post!.security).toContainEqual({ apiKey: ["ingest"] });
    expect(spec.paths["/api/replies/{id}/approve"]!.post!.security).toContainEqual({ apiKey: ["review"] });
    expect(spec.paths["/api/channels/replies"]!.post!.security).toContainEqual({ apiKey: ["reply"] });
    expect(spec.paths["/dashboard/"]!.get!.security).toEqual([{ sessionCookie: [] }]);
  });

  test("every $ref in the document resolves, and every operation id is unique", () => {
    const refs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) k === "$ref" && typeof x === "string" ? refs.push(x) : walk(x);
    };
    walk(spec);
    expect(refs.length).toBeGreaterThan(10);
    const resolve = (ref: string) => ref.slice(2).split("/").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], spec);
    expect(refs.filter((r) => !r.startsWith("#/") || resolve(r) === undefined)).toEqual([]);
    const ids = Object.values(spec.paths).flatMap((ops) => Object.values(ops).map((op) => (op as { operationId?: string }).operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("what the spec calls authenticated refuses a request without credentials; what it calls public does not ask for any", async () => {
    const id = "00000000-0000-4000-8000-000000000000";
    for (const [path, ops] of Object.entries(spec.paths))
      for (const [method, op] of Object.entries(ops)) {
        const url = path.replace(/\{source\}/, "tool").replace(/\{[^}]+\}/g, id);
        const required = (op.security ?? []).length > 0 && !(op.security ?? []).some((r) => Object.keys(r).length === 0);
        const where = `${method} ${path}`;
        if (op.responses?.["101"]) {
          // A WebSocket route: only a real upgrade reaches it. A protected one must not open.
          if (required) expect({ where, opened: await opens(`ws://${base}${url}`) }).toEqual({ where, opened: false });
          continue;
        }
        const res = await app().handle(new Request(`http://local${url}`, { method: method.toUpperCase(), ...(method === "post" ? { headers: { "content-type": "application/json" }, body: "{}" } : {}) }));
        if (required) {
          // 401 for APIs, a redirect to the sign-in page for dashboard pages; never the resource itself.
          const refused = res.status === 401 || (res.status === 303 && (res.headers.get("location") ?? "").startsWith("/dashboard/login"));
          expect({ where, status: res.status, refused }).toEqual({ where, status: res.status, refused: true });
        } else {
          // Public routes never ask for authentication (sign-in may still refuse a form without its CSRF cookie);
          // /metrics is public only while METRICS_TOKEN is unset, as its optional requirement says.
          expect({ where, status: res.status, asks: res.status === 401 }).toEqual({ where, status: res.status, asks: path === "/metrics" });
        }
      }
  });

  test("the docs page is server-rendered, lists every operation and loads nothing from elsewhere", async () => {
    const res = await get("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).not.toContain("<script");
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).toContain('href="/openapi.json"');
    expect(html).toContain('href="/schemas/widget-socket.json"');
    for (const [path, ops] of Object.entries(spec.paths)) for (const m of Object.keys(ops)) expect(html).toContain(Bun.escapeHTML(`${m.toUpperCase()} ${path}`));
    for (const scheme of ["sessionCookie", "apiKey", "webhookSignature"]) expect(html).toContain(scheme);
  });

  test("the published socket schema is the one the server validates with, and real frames match it", async () => {
    const res = await get("/schemas/widget-socket.json");
    expect(res.status).toBe(200);
    const published = (await res.json()) as { $defs: Record<string, unknown> };
    expect(published).toEqual(JSON.parse(JSON.stringify(widgetSocketSchema())));
    expect(published.$defs.ClientMessage).toEqual(JSON.parse(JSON.stringify(ClientMessage)));

    const frames: unknown[] = [];
    const ws = new WebSocket(`ws://${base}/api/chat/ws?visitor=openapi-visitor-1`);
    ws.onmessage = (e) => frames.push(JSON.parse(String(e.data)));
    await new Promise((r, j) => {
      ws.onopen = r;
      ws.onerror = j;
    });
    await waitFor(() => frames.length >= 1, 5000, "ready frame");
    ws.send(JSON.stringify({ type: "message", text: "Where is my refund?", client_id: "c-1" }));
    ws.send(JSON.stringify({ type: "shout", text: 1 }));
    ws.send("not json");
    await waitFor(() => frames.some((f) => (f as { type: string }).type === "result"), 15_000, "result frame");
    ws.close();
    const types = frames.map((f) => (f as { type: string }).type);
    expect(types).toContain("ready");
    expect(types).toContain("ack");
    expect(types.filter((t) => t === "error").length).toBe(2);
    for (const f of frames) expect({ f, valid: Value.Check(ServerFrame, f) }).toEqual({ f, valid: true });
    // The schema is not vacuous: a frame of the wrong shape fails it.
    expect(Value.Check(ServerFrame, { type: "ack" })).toBe(false);
    expect(Value.Check(ClientMessage, { type: "shout", text: 1 })).toBe(false);
  }, 30_000);
});
