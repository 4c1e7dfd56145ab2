import type { Agent } from "../../src/agents/types.ts";
import { loadConfig } from "../../src/config.ts";
import type { Role } from "../../src/dashboard/auth.ts";
import type { Dashboard, DashboardDeps } from "../../src/dashboard/index.ts";
import { AppError, err, ok } from "../../src/errors.ts";
import { openParts, startService, type Parts, type Service } from "../../src/runtime.ts";

/**
 * Stand-ins for the worker agents, used only by tests: deterministic outputs in the shapes the real workers publish,
 * driven by the message text ("urgent" → high urgency, "angry" → frustrated, "refund" → refund intent).
 */
export function testAgents(): Agent[] {
  return [
    {
      name: "intent",
      async run(m) {
        const label = /refund/i.test(m.message.text) ? "refund_request" : /password/i.test(m.message.text) ? "account_access" : "general_question";
        const labelFromText = m.message.text.match(/\[intent:([^\]]+)\]/)?.[1];
        return ok({ label: labelFromText ?? label, confidence: 0.91, top: [{ label: labelFromText ?? label, score: 0.91 }, { label: "billing", score: 0.06 }, { label: "other", score: 0.03 }] });
      },
    },
    {
      name: "sentiment",
      async run(m) {
        const t = m.message.text;
        const label = /angry|furious|unacceptable/i.test(t) ? "frustrated" : /thanks|great/i.test(t) ? "positive" : "neutral";
        const urgent = /urgent|asap|immediately/i.test(t);
        return ok({ label, score: 0.88, urgency: { level: urgent ? "high" : "low", reasons: urgent ? ["says it is urgent"] : [] } });
      },
    },
    {
      name: "entities",
      async run(m) {
        if (m.message.text.includes("[fail-entities]")) return err(new AppError("entity_model_unavailable", "entity model not loaded", { retriable: false }));
        const order = m.message.text.match(/#(\d{4,})/)?.[1];
        return ok({ entities: order ? [{ type: "order_id", value: order }] : [] });
      },
    },
    {
      name: "knowledge",
      async run() {
        return ok({ passages: [{ id: "kb-returns-1", title: "Returns policy", source: "kb/returns.md", score: 0.82, text: "Items can be returned within 30 days." }], abstained: false });
      },
    },
    {
      name: "reply",
      stage: 1,
      async run(m) {
        return ok({ text: `Hello ${m.user.name ?? "there"}, thanks for reaching out. Items can be returned within 30 days [kb-returns-1].`, status: "draft", citations: ["kb-returns-1"] });
      },
    },
  ];
}

/** A running product on embedded parts with the test agents, plus the dashboard objects for assertions. */
export interface Harness {
  parts: Parts;
  service: Service;
  dashboard: Dashboard;
  app: NonNullable<Service["app"]>;
  /** Base URL when `listen` was requested. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the embedded product (memory bus, in-memory PGlite) with the production assembly: `startService` wires the
 * master, the hub, the decision service, the channels, the dashboard and the routes exactly as runtime.ts does for
 * `ROLE=all`; the test only overrides what would make it slow or reach out (password hashing cost, timers, fetch).
 */
export async function startHarness(o: { listen?: boolean; env?: Record<string, string>; spikeCheckMs?: number; fetch?: typeof fetch; agents?: Agent[]; sessionRecheckMs?: number; models?: DashboardDeps["models"] } = {}): Promise<Harness> {
  // Every in-process request comes from the same "unknown" address: sign-ins per address are relaxed unless a test sets them.
  const config = loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent", ROLE: "all", RATE_LIMIT_SIGNIN_IP: "1000/15m", ...o.env });
  const parts = await openParts(config);
  const overrides: NonNullable<Parameters<typeof startService>[2]>["dashboard"] = { passwordCost: { memoryCost: 1024, timeCost: 1 }, spikeCheckMs: o.spikeCheckMs ?? 0 };
  if (o.fetch) overrides.fetch = o.fetch;
  if (o.sessionRecheckMs !== undefined) overrides.sessionRecheckMs = o.sessionRecheckMs;
  if (o.models) overrides.models = o.models;
  const service = await startService(parts, o.agents ?? testAgents(), { dashboard: overrides });
  const dashboard = service.dashboard;
  const app = service.app;
  if (!dashboard || !app) throw new Error("ROLE=all serves the dashboard");
  await dashboard.ready;
  let url = "http://127.0.0.1";
  if (o.listen) {
    app.listen({ hostname: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${app.server!.port}`;
  }
  return {
    parts,
    service,
    dashboard,
    app,
    url,
    async stop() {
      if (app.server) await app.stop(true);
      await dashboard.settle();
      await service.stop();
    },
  };
}

/** Polls until `fn` returns a truthy value (the pipeline is asynchronous); fails after `ms`. */
export async function until<T>(fn: () => Promise<T> | T, ms = 10_000, what = "condition"): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** A signed-in browser-less client: session cookie plus CSRF token, issuing requests through app.handle. */
export interface Client {
  cookie: string;
  csrf: string;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
}

let users = 0;

/** Creates a user with the role and signs it in through the real login form. */
export async function signIn(h: Harness, role: Role = "admin"): Promise<Client & { email: string; password: string }> {
  const email = `user${++users}-${role}@example.com`;
  const password = "a long enough passphrase";
  await h.dashboard.accounts.createUser({ email, name: `Test ${role} ${users}`, role, password });
  const r = await login(h, email, password);
  if (r.status !== 303) throw new Error(`sign-in failed: ${r.status}`);
  const cookie = r.headers.getSetCookie().find((c) => c.startsWith("copilot_session="))!.split(";")[0]!;
  const page = await (await h.app.handle(new Request(`${h.url}/dashboard`, { headers: { cookie } }))).text();
  const csrf = page.match(/data-csrf="([^"]+)"/)![1]!;
  return { email, password, ...client(h, cookie, csrf) };
}

/** A client for an existing cookie/CSRF pair. */
export function client(h: Harness, cookie: string, csrf: string): Client {
  return {
    cookie,
    csrf,
    get: (path, headers = {}) => h.app.handle(new Request(`${h.url}${path}`, { headers: { cookie, ...headers } })),
    post: (path, form, headers = {}) =>
      h.app.handle(
        new Request(`${h.url}${path}`, {
          method: "POST",
          headers: { cookie, "content-type": "application/x-www-form-urlencoded", ...headers },
          body: new URLSearchParams(form).toString(),
        }),
      ),
  };
}

/** Runs the sign-in form (GET for the CSRF cookie and token, then POST). */
export async function login(h: Harness, email: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  const page = await h.app.handle(new Request(`${h.url}/dashboard/login`));
  const csrfCookie = page.headers.getSetCookie().find((c) => c.startsWith("copilot_csrf="))!.split(";")[0]!;
  const token = (await page.text()).match(/name="_csrf" value="([^"]+)"/)![1]!;
  return h.app.handle(
    new Request(`${h.url}/dashboard/login`, {
      method: "POST",
      headers: { cookie: csrfCookie, "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams({ _csrf: token, email, password }).toString(),
    }),
  );
}

/** Publishes a message through the real producer API and waits until its result is persisted. */
export async function ingest(h: Harness, body: Record<string, unknown>): Promise<{ id: string; conversation_id: string }> {
  const res = await h.app.handle(new Request(`${h.url}/api/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }));
  if (res.status !== 202) throw new Error(`ingest failed: ${res.status} ${await res.text()}`);
  const out = (await res.json()) as { id: string; conversation_id: string };
  await until(async () => (await h.parts.store.existing([out.id])).get(out.id)?.published, 10_000, `result of ${out.id}`);
  return out;
}

/** A WebSocket test client that records every frame and waits for one matching a predicate. */
export async function socket(url: string, headers: Record<string, string> = {}) {
  const frames: string[] = [];
  const waiters = new Set<() => void>();
  const ws = new WebSocket(url, { headers } as unknown as string[]);
  ws.onmessage = (e) => {
    frames.push(String(e.data));
    for (const w of waiters) w();
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`websocket ${url} failed`));
  });
  return {
    ws,
    frames,
    send: (o: unknown) => ws.send(JSON.stringify(o)),
    /** Resolves with the first frame (already received or future) that satisfies `pred`. */
    next(pred: (f: string) => boolean, ms = 10_000): Promise<string> {
      const hit = frames.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame; got ${frames.length}: ${frames.map((f) => f.slice(0, 80)).join(" | ")}`)), ms);
        const check = () => {
          const f = frames.find(pred);
          if (f) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(f);
          }
        };
        waiters.add(check);
      });
    },
    close: () => ws.close(),
  };
}
