import { Elysia } from "elysia";
import { BASE } from "../../views/layout.tsx";
import type { Config } from "../config.ts";
import type { Store } from "../db/store.ts";
import type { Logger } from "../obs/log.ts";
import type { Metrics } from "../obs/metrics.ts";
import { type AbuseGuard, defaultGuard } from "../ratelimit/guard.ts";
import type { ResultHub } from "../realtime/hub.ts";
import { reviewOf, type ReplyStreamEvent, type ReviewAction } from "../schema/events.ts";
import { AlertEngine } from "./alerts.ts";
import { Accounts } from "./auth.ts";
import { PAGE_HEADERS } from "./http.ts";
import { niceVerifier, poolVerifier } from "./password-check.ts";
import { LiveDashboards } from "./live.ts";
import { DashboardQueries } from "./queries.ts";
import { adminRoutes } from "./routes/admin.ts";
import { alertRoutes } from "./routes/alerts.ts";
import { type Parts, routeContext } from "./routes/context.ts";
import { conversationRoutes } from "./routes/conversations.ts";
import { insightRoutes } from "./routes/insights.ts";
import { signinRoutes } from "./routes/signin.ts";
import { socketRoutes } from "./routes/socket.ts";

/** What the dashboard needs from the running service. */
export interface DashboardDeps {
  store: Store;
  hub: ResultHub;
  settings: Config["dashboard"];
  role: Config["role"];
  log: Logger;
  metrics: Metrics;
  /** The master agent when this process consumes (agent activity shows its workers, lag and state). */
  consumer?: { workers: string[]; lag(): Promise<number>; busy: boolean } | null;
  /** The one decision service (src/agents/response ReplyApprovals): every approve/edit/reject goes through it. */
  approvals: { decide(messageId: string, action: ReviewAction, by: { label: string; userId?: string }, body: { text?: string; reason?: string }): Promise<unknown> };
  /** Streamed draft tokens (the response agent's ReplyStreamHub), shown live on the conversation page. */
  replyStream?: { onAny(l: (ev: ReplyStreamEvent) => void): () => void };
  /** Abuse limits: sign-in attempts per client address and per account, alert webhooks; a per-process default when omitted. */
  guard?: AbuseGuard;
  /** How often open dashboard sockets are re-checked against their sessions (default 5 s). */
  sessionRecheckMs?: number;
  /** Customer erasure (admin-only route); absent, the route answers 503. */
  privacy?: { eraseCustomer(customerId: string, actor: string): Promise<{ counts: Record<string, number>; auditId: number }> };
  /** The intent calibration report (`eval:intent --report`) shown on the admin Models page, and the head versions in service. */
  models?: { calibrationReport: string; versions?: () => { intent: string; sentiment: string } };
  /** Overrides for tests. */
  passwordCost?: { memoryCost: number; timeCost: number };
  spikeCheckMs?: number;
  fetch?: typeof fetch;
}

/** The dashboard's long-lived parts alongside its HTTP plugin. */
export interface Dashboard {
  routes: ReturnType<typeof dashboardRoutes>;
  accounts: Accounts;
  alerts: AlertEngine;
  live: LiveDashboards;
  queries: DashboardQueries;
  /** Resolves once default alert rules exist. */
  ready: Promise<void>;
  /** Resolves when every alert evaluation and webhook started so far has finished. */
  settle(): Promise<void>;
}

/** Builds the dashboard: accounts, alert engine, live fan-out (subscribed to the result hub) and the routes. */
export function createDashboard(d: DashboardDeps): Dashboard {
  const db = d.store.db;
  const accounts = new Accounts(db, d.settings.sessionTtlHours, d.passwordCost ?? null, d.settings.passwordCheckNice > 0 ? niceVerifier(d.settings.passwordCheckNice) : poolVerifier);
  const queries = new DashboardQueries(db);
  const guard = d.guard ?? defaultGuard();
  // Sign-in checks the address's budget before the password: a boxed address gets this page before routing.
  guard.gate("POST", `${BASE}/login`, "signin_ip", { ...PAGE_HEADERS, "content-type": "text/html; charset=utf-8" }, (s) =>
    `<!doctype html><html lang="en"><title>Too many sign-in attempts</title><p>Too many sign-in attempts. Try again in ${Math.ceil(s / 60)} minute(s). <a href="${BASE}/login">Back to sign-in</a></p></html>`,
  );
  const live = new LiveDashboards(d.log, { everyMs: d.sessionRecheckMs ?? 5000, valid: (h) => accounts.validTokens(h) });
  const alerts = new AlertEngine({
    db,
    log: d.log,
    webhookUrl: d.settings.alertWebhookUrl,
    webhookSecret: d.settings.alertWebhookSecret,
    onFired: (a) => live.onAlert(a),
    spikeCheckMs: d.spikeCheckMs,
    fetch: d.fetch,
    guard,
  });
  const ready = Promise.all([
    alerts.ensureDefaults().catch((e) => d.log.error({ component: "dashboard", err: (e as Error).message }, "default alert rules not created")),
    accounts
      .bootstrap(d.settings.bootstrapAdmin)
      .then((u) => u && d.log.info({ component: "dashboard", user: u.id }, "first admin created from DASHBOARD_ADMIN_EMAIL"))
      .catch((e) => d.log.error({ component: "dashboard", err: (e as Error).message }, "first admin not created")),
  ]);
  const pending = new Set<Promise<unknown>>();
  d.hub.onAny((ev) => {
    live.onEvent(ev);
    if (ev.type !== "message.result" || reviewOf(ev.outputs)) return;
    const p = alerts.evaluate(ev).catch((e) => d.log.warn({ component: "alerts", err: (e as Error).message }, "alert evaluation failed"));
    pending.add(p);
    void p.finally(() => pending.delete(p));
  });
  d.replyStream?.onAny((ev) => live.onEvent(ev));
  return {
    routes: dashboardRoutes(d, { accounts, queries, live, alerts, guard }),
    accounts,
    alerts,
    live,
    queries,
    ready: ready.then(() => undefined),
    async settle() {
      while (pending.size) await Promise.allSettled([...pending]);
      await alerts.settle();
    },
  };
}

/** The dashboard's HTTP and WebSocket routes under /dashboard, one module per area (src/dashboard/routes/). Everything but sign-in and static assets needs a session. */
export function dashboardRoutes(d: DashboardDeps, p: Parts) {
  const c = routeContext(d, p);
  return new Elysia({ name: "dashboard" })
    .use(signinRoutes(c))
    .use(socketRoutes(c))
    .use(conversationRoutes(c))
    .use(insightRoutes(c))
    .use(alertRoutes(c))
    .use(adminRoutes(c));
}
