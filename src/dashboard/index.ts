import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { Elysia, t } from "elysia";
import { ConversationPage, Draft, Relabel, type Correction, type ThreadEntry } from "../../views/conversation.tsx";
import { FeedPage } from "../../views/feed.tsx";
import { ModelsPage, type CalibrationReport } from "../../views/models.tsx";
import { AgentsPage, AlertRow, AlertsPage, AnalyticsPage, UsersPage } from "../../views/insights.tsx";
import { BASE, Layout, LoginPage } from "../../views/layout.tsx";
import type { EventBus } from "../bus/interface.ts";
import type { Config } from "../config.ts";
import { labelCorrections, messages, replyDecisions, results } from "../db/schema.ts";
import type { Store } from "../db/store.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { Metrics } from "../obs/metrics.ts";
import { cipherOf, FIELDS, UNREADABLE } from "../privacy/index.ts";
import type { ResultHub } from "../realtime/hub.ts";
import { AlertEngine, parseRule } from "./alerts.ts";
import { Accounts, cookieNames, hasRole, randomToken, readCookie, ROLES, safeEqual, setCookie, type Principal, type Role } from "./auth.ts";
import { filtersToQuery, parseFilters, RANGES, type Range } from "./filters.ts";
import { htmlResponse, PAGE_HEADERS, redirect, safeNext } from "./http.ts";
import { decisionOf, LiveDashboards, type DecisionEvent } from "./live.ts";
import { replyOf } from "./outputs.ts";
import { DashboardQueries } from "./queries.ts";
import { defaultGuard, type AbuseGuard } from "../ratelimit/guard.ts";

/** What the dashboard needs from the running service. */
export interface DashboardDeps {
  store: Store;
  hub: ResultHub;
  bus: EventBus;
  /** response-events: decisions are re-published there so every replica's dashboards and chat sockets see them. */
  responsesTopic: string;
  settings: Config["dashboard"];
  role: Config["role"];
  log: Logger;
  metrics: Metrics;
  /** The master agent when this process consumes (agent activity shows its workers, lag and state). */
  consumer?: { workers: string[]; lag(): Promise<number>; busy: boolean } | null;
  /**
   * The response agent's approval flow (src/agents/response ReplyApprovals): when given, dashboard decisions go
   * through it, so approved replies are handed to the reply-back service of their channel; otherwise the dashboard
   * records the decision and re-publishes the result itself (chat replies still reach the widget).
   */
  approvals?: { decide(messageId: string, action: "approve" | "edit" | "reject", by: { label: string; userId?: string }, body: { text?: string; reason?: string }): Promise<unknown> };
  /** Streamed draft tokens (the response agent's ReplyStreamHub), shown live on the conversation page. */
  replyStream?: { onAny(l: (ev: { type: string; conversation_id: string; message_id: string }) => void): () => void };
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

const ASSETS: Record<string, { file: string; type: string }> = {
  "htmx.min.js": { file: Bun.resolveSync("htmx.org/dist/htmx.min.js", import.meta.dir), type: "text/javascript" },
  "htmx-ws.js": { file: Bun.resolveSync("htmx-ext-ws/dist/ws.js", import.meta.dir), type: "text/javascript" },
  "uplot.min.js": { file: Bun.resolveSync("uplot/dist/uPlot.iife.min.js", import.meta.dir), type: "text/javascript" },
  "uplot.min.css": { file: Bun.resolveSync("uplot/dist/uPlot.min.css", import.meta.dir), type: "text/css" },
  "app.css": { file: new URL("../../views/assets/app.css", import.meta.url).pathname, type: "text/css" },
  "app.js": { file: new URL("../../views/assets/app.js", import.meta.url).pathname, type: "text/javascript" },
};
const assetCache = new Map<string, string>();

/** Builds the dashboard: accounts, alert engine, live fan-out (subscribed to the result hub) and the routes. */
export function createDashboard(d: DashboardDeps): Dashboard {
  const db = d.store.db;
  const accounts = new Accounts(db, d.settings.sessionTtlHours, d.passwordCost ?? null);
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
    if ((ev as { type?: string }).type !== "message.result" || decisionOf(ev)) return;
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

interface Parts {
  accounts: Accounts;
  queries: DashboardQueries;
  live: LiveDashboards;
  alerts: AlertEngine;
  guard: AbuseGuard;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isHtmx = (h: Headers) => h.get("hx-request") === "true";
const forbidden = () => new AppError("forbidden", "your role does not allow this", { status: 403 });

/** The dashboard's HTTP and WebSocket routes under /dashboard. Everything but sign-in and static assets needs a session. */
export function dashboardRoutes(d: DashboardDeps, p: Parts) {
  const db = d.store.db;
  const cipher = cipherOf(db);
  const names = cookieNames(d.settings.cookieSecure);
  const secure = d.settings.cookieSecure;

  const principalOf = (h: Headers) => p.accounts.session(readCookie(h.get("cookie"), names.session));
  const page = (pr: Principal, title: string, active: string, body: JSX.Element, extra: { live?: string; scripts?: string[]; styles?: string[] } = {}) =>
    htmlResponse(Layout({ title, user: pr.user, csrf: pr.csrf, active, children: body, ...extra }));
  const need = (pr: Principal, role: Role) => {
    if (!hasRole(pr.user.role, role)) throw forbidden();
  };

  /** Loads the thread of a conversation as view entries. */
  async function loadThread(conversationId: string): Promise<ThreadEntry[]> {
    const rows = await p.queries.thread(conversationId);
    return rows.map(({ m, r, d: dec }) => ({
      id: m.id,
      conversationId: m.conversationId,
      channel: m.source,
      customerId: m.customerId,
      customerName: cipher.openOr(m.customerName, FIELDS.messageName, UNREADABLE),
      text: cipher.openOr(m.text, FIELDS.messageText, UNREADABLE)!,
      receivedAt: m.receivedAt,
      outputs: r ? (r.outputs as Record<string, unknown>) : null,
      failures: r ? (r.failures as ThreadEntry["failures"]) : [],
      degraded: r?.degraded === 1,
      decision: dec ? { action: dec.action, finalText: dec.finalText, reason: dec.reason, at: dec.createdAt } : null,
    }));
  }

  async function entryOf(messageId: string): Promise<ThreadEntry | null> {
    const [row] = await db.select({ c: messages.conversationId }).from(messages).where(eq(messages.id, messageId)).limit(1);
    if (!row) return null;
    return (await loadThread(row.c)).find((e) => e.id === messageId) ?? null;
  }

  const correctionsOf = async (ids: string[]): Promise<Correction[]> =>
    (await p.queries.corrections(ids)).map((c) => ({ field: c.field, previous: c.previous, value: c.value, by: c.by, at: c.at }));

  return (
    new Elysia({ name: "dashboard", prefix: BASE })
      .get("/assets/:name", ({ params }) => {
        const a = ASSETS[params.name];
        if (!a) throw new AppError("not_found", "no such asset", { status: 404 });
        let body = assetCache.get(params.name);
        if (body === undefined) assetCache.set(params.name, (body = readFileSync(a.file, "utf8")));
        return new Response(body, { headers: { "content-type": `${a.type}; charset=utf-8`, "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" } });
      })
      .get("/login", async ({ request, query }) => {
        if (await principalOf(request.headers)) return redirect(safeNext(query.next, BASE));
        const csrf = randomToken();
        return htmlResponse(LoginPage({ csrf, next: typeof query.next === "string" ? query.next : undefined }), { headers: { "set-cookie": setCookie(names.csrf, csrf, 3600, secure) } });
      })
      .post(
        "/login",
        async ({ request, body, server }) => {
          const form = body as Record<string, string | undefined>;
          const email = (form.email ?? "").trim().toLowerCase().slice(0, 320);
          const again = async (error: string, status: number, extra: Record<string, string> = {}) => {
            const csrf = randomToken();
            return htmlResponse(LoginPage({ csrf, error, email, next: form.next }), { status, headers: { "set-cookie": setCookie(names.csrf, csrf, 3600, secure), ...extra } });
          };
          const cookieCsrf = readCookie(request.headers.get("cookie"), names.csrf);
          if (!cookieCsrf || !form._csrf || !safeEqual(cookieCsrf, form._csrf)) return again("Your sign-in form expired. Please try again.", 403);
          // Reserve, then verify: the attempt is counted (per trusted client address and per account) before the
          // password is checked, so parallel guesses cannot all pass a check made before any failure was recorded.
          const ip = p.guard.ip(request, server);
          const limited = await p.guard.refusal(["signin_ip", ip], ["signin_account", email]);
          if (limited) return again(`Too many sign-in attempts. Try again in ${Math.ceil(limited.retryAfterS / 60)} minute(s).`, 429, limited.headers);
          d.metrics.signinChecks.inc();
          const user = await p.accounts.verify(email, form.password ?? "");
          if (!user) {
            d.log.warn({ component: "dashboard", ip }, "failed sign-in");
            return again("Wrong email or password.", 401);
          }
          // A successful sign-in clears the account's attempts and gives its unit back to the address (shared offices).
          await p.guard.reset("signin_account", email);
          await p.guard.refund("signin_ip", ip);
          const s = await p.accounts.startSession(user.id);
          d.log.info({ component: "dashboard", user: user.id }, "signed in");
          const h = new Headers({ location: safeNext(form.next, BASE), "cache-control": "no-store" });
          h.append("set-cookie", setCookie(names.session, s.token, s.maxAgeSeconds, secure));
          h.append("set-cookie", setCookie(names.csrf, "", 0, secure));
          return new Response(null, { status: 303, headers: h });
        },
        { parse: "urlencoded" },
      )
      .ws("/ws", {
        query: t.Object({
          channel: t.Optional(t.String()),
          intent: t.Optional(t.String()),
          sentiment: t.Optional(t.String()),
          urgency: t.Optional(t.String()),
          range: t.Optional(t.String()),
          q: t.Optional(t.String()),
          conversation: t.Optional(t.String({ maxLength: 300 })),
          page: t.Optional(t.String({ maxLength: 20 })),
        }),
        async beforeHandle(ctx) {
          // Elysia runs a socket's beforeHandle twice on the same context; the session is looked up once.
          if ((ctx as unknown as { principal?: Principal }).principal) return;
          const origin = ctx.request.headers.get("origin");
          const host = ctx.request.headers.get("host");
          if (origin && host && new URL(origin).host !== host) throw new AppError("forbidden", "cross-origin dashboard socket refused", { status: 403 });
          const pr = await principalOf(ctx.request.headers);
          if (!pr) throw new AppError("unauthorized", "sign in first", { status: 401 });
          (ctx as unknown as { principal: Principal }).principal = pr;
        },
        open(ws) {
          const data = ws.data as unknown as { principal: Principal; off?: () => void; query: Record<string, string | undefined> };
          const q = data.query;
          data.off = p.live.add({
            user: data.principal.user,
            feed: q.page === "feed" ? parseFilters(q) : null,
            conversationId: q.conversation ?? null,
            send: (html) => ws.send(html),
            tokenHash: data.principal.tokenHash,
            close: () => ws.close(4401, "session ended"),
          });
          d.metrics.wsClients.inc({ kind: "dashboard" });
          ws.send(`<span id="live-status" class="live-status on" aria-live="polite" hx-swap-oob="true">live</span>`);
        },
        message() {
          /* the dashboard socket is push-only; actions go through CSRF-protected POSTs */
        },
        close(ws) {
          (ws.data as unknown as { off?: () => void }).off?.();
          d.metrics.wsClients.dec({ kind: "dashboard" });
        },
      })
      .resolve(async ({ request }) => ({ principal: await principalOf(request.headers) }))
      .onBeforeHandle(({ principal, request, body }) => {
        if (!principal) {
          const url = new URL(request.url);
          const next = `${url.pathname}${url.search}`;
          if (isHtmx(request.headers)) return new Response(null, { status: 401, headers: { "hx-redirect": `${BASE}/login` } });
          if (request.method === "GET") return redirect(`${BASE}/login?next=${encodeURIComponent(next)}`);
          throw new AppError("unauthorized", "sign in first", { status: 401 });
        }
        if (request.method !== "GET" && request.method !== "HEAD") {
          const sent = request.headers.get("x-csrf-token") ?? (body && typeof body === "object" ? (body as Record<string, unknown>)._csrf : undefined);
          if (typeof sent !== "string" || !safeEqual(sent, principal.csrf)) throw new AppError("csrf", "missing or invalid CSRF token", { status: 403 });
        }
      })
      .post("/logout", async ({ principal }) => {
        await p.accounts.endSession(principal!.tokenHash);
        p.live.closeWhere((c) => c.tokenHash === principal!.tokenHash);
        return redirect(`${BASE}/login`, { "set-cookie": setCookie(names.session, "", 0, secure) });
      })
      .get("/", async ({ principal, query }) => {
        const filters = parseFilters(query);
        const [items, facets] = await Promise.all([p.queries.feed(filters), p.queries.facets()]);
        const qs = filtersToQuery(filters);
        return page(principal!, "Live feed", "feed", FeedPage({ items, filters, facets }), { live: `page=feed${qs ? `&${qs}` : ""}` });
      })
      .get("/conversations/:id", async ({ principal, params, query }) => {
        const entries = await loadThread(params.id);
        if (entries.length === 0) throw new AppError("not_found", "no such conversation", { status: 404 });
        const selected = entries.find((e) => e.id === query.m) ?? [...entries].reverse().find((e) => e.conversationId === params.id) ?? entries[entries.length - 1]!;
        const [corrections, facets, others] = await Promise.all([correctionsOf([selected.id]), p.queries.facets(), p.queries.otherConversations(params.id)]);
        return page(
          principal!,
          `Conversation ${params.id}`,
          "feed",
          ConversationPage({ conversationId: params.id, entries, selected, corrections, intents: facets.intents, others }),
          { live: `page=conversation&conversation=${encodeURIComponent(params.id)}` },
        );
      })
      .post(
        "/messages/:id/decision",
        async ({ principal, params, body, request }) => {
          const form = body as Record<string, string | undefined>;
          const action = form.action === "approve" ? "approved" : form.action === "edit" ? "edited" : form.action === "reject" ? "rejected" : null;
          if (!action) throw new AppError("invalid_decision", "action must be approve, edit or reject", { status: 422 });
          if (!UUID.test(params.id)) throw new AppError("not_found", "no processed message with this id", { status: 404 });
          const events = await d.store.loadEvents([params.id]);
          const ev = events.get(params.id);
          if (!ev) throw new AppError("not_found", "no processed message with this id", { status: 404 });
          const reply = replyOf(ev.outputs);
          if (!reply) throw new AppError("no_draft", "this message has no drafted reply", { status: 409 });
          if (reply.status === "auto_sent") throw new AppError("already_sent", "this reply was sent automatically", { status: 409 });
          const finalText = action === "edited" ? (form.text ?? "").trim().slice(0, 20_000) : action === "approved" ? reply.text : null;
          if (action === "edited" && !finalText) throw new AppError("invalid_decision", "the edited reply is empty", { status: 422 });
          const reason = action === "rejected" ? (form.reason ?? "").trim().slice(0, 500) : null;
          if (action === "rejected" && !reason) throw new AppError("invalid_decision", "a rejection needs a reason", { status: 422 });
          if (d.approvals) {
            const verb = action === "approved" ? "approve" : action === "edited" ? "edit" : "reject";
            let status = 200;
            try {
              await d.approvals.decide(ev.message_id, verb, { label: principal!.user.email, userId: principal!.user.id }, { text: finalText ?? undefined, reason: reason ?? undefined });
            } catch (e) {
              if (!(e instanceof AppError) || e.status !== 409) throw e;
              status = 409;
            }
            if (!isHtmx(request.headers)) return redirect(`${BASE}/conversations/${encodeURIComponent(ev.conversation_id)}?m=${ev.message_id}`);
            return htmlResponse(Draft({ e: (await entryOf(ev.message_id))! }), { status });
          }
          const inserted = await db
            .insert(replyDecisions)
            .values({ messageId: ev.message_id, conversationId: ev.conversation_id, action, draftText: reply.text, finalText, reason, userId: principal!.user.id })
            .onConflictDoNothing()
            .returning({ at: replyDecisions.createdAt });
          if (inserted[0]) {
            const decided: DecisionEvent = {
              ...ev,
              outputs: {
                ...ev.outputs,
                reply: { ...(ev.outputs.reply as object), text: finalText ?? reply.text, status: action === "rejected" ? "rejected" : "approved", edited: action === "edited", decided_by: principal!.user.id },
              },
              decision: { action, at: inserted[0].at.toISOString(), by: principal!.user.id, reason },
            };
            await d.bus.publish(d.responsesTopic, [{ key: ev.conversation_id, value: JSON.stringify(decided), headers: { "message-id": ev.message_id, kind: "decision" } }]);
            d.log.info({ component: "dashboard", msg_id: ev.message_id, action, user: principal!.user.id }, "draft decided");
          }
          if (!isHtmx(request.headers)) return redirect(`${BASE}/conversations/${encodeURIComponent(ev.conversation_id)}?m=${ev.message_id}`);
          const entry = await entryOf(ev.message_id);
          return htmlResponse(Draft({ e: entry! }), { status: inserted[0] ? 200 : 409 });
        },
        { parse: "urlencoded" },
      )
      .post(
        "/messages/:id/labels",
        async ({ principal, params, body, request }) => {
          const form = body as Record<string, string | undefined>;
          const field = form.field;
          if (!UUID.test(params.id)) throw new AppError("not_found", "no processed message with this id", { status: 404 });
          if (field !== "intent" && field !== "sentiment" && field !== "urgency") throw new AppError("invalid_label", "field must be intent, sentiment or urgency", { status: 422 });
          const value = (form.value ?? "").trim().slice(0, 100);
          if (!value) throw new AppError("invalid_label", "value is required", { status: 422 });
          const [row] = await db
            .select({ text: messages.text, conversationId: messages.conversationId, intent: results.intent, sentiment: results.sentiment, urgency: results.urgency })
            .from(messages)
            .innerJoin(results, eq(results.messageId, messages.id))
            .where(eq(messages.id, params.id))
            .limit(1);
          if (!row) throw new AppError("not_found", "no processed message with this id", { status: 404 });
          // The message text is already sealed under messages.text: re-seal it under this column's name.
          const sealed = cipher.seal(cipher.open(row.text, FIELDS.messageText), FIELDS.correctionText)!;
          await db.insert(labelCorrections).values({ messageId: params.id, field, previous: row[field], value, text: sealed, userId: principal!.user.id });
          if (!isHtmx(request.headers)) return redirect(`${BASE}/conversations/${encodeURIComponent(row.conversationId)}?m=${params.id}`);
          const entry = await entryOf(params.id);
          const facets = await p.queries.facets();
          return htmlResponse(Relabel({ e: entry!, corrections: await correctionsOf([params.id]), intents: facets.intents }));
        },
        { parse: "urlencoded" },
      )
      .get("/labels.jsonl", async ({ principal }) => {
        need(principal!, "admin");
        const rows = await db.select().from(labelCorrections).orderBy(labelCorrections.id);
        const body = rows.map((r) => JSON.stringify({ message_id: r.messageId, field: r.field, label: r.value, model_label: r.previous, text: cipher.open(r.text, FIELDS.correctionText), at: r.createdAt.toISOString() })).join("\n");
        return new Response(body ? `${body}\n` : "", { headers: { "content-type": "application/x-ndjson", "content-disposition": 'attachment; filename="label-corrections.jsonl"', "cache-control": "no-store" } });
      })
      .get("/analytics", async ({ principal, query }) => {
        need(principal!, "lead");
        const range = (typeof query.range === "string" && query.range in RANGES ? query.range : "7d") as Range;
        const a = await p.queries.analytics(range);
        return page(principal!, "Analytics", "analytics", AnalyticsPage({ a }), { scripts: [`${BASE}/assets/uplot.min.js`], styles: [`${BASE}/assets/uplot.min.css`] });
      })
      .get("/agents", async ({ principal }) => {
        need(principal!, "lead");
        const act = await p.queries.agentActivity();
        const c = d.consumer ?? null;
        const consumer = {
          role: d.role,
          workers: c?.workers ?? [],
          lag: c ? await c.lag().catch(() => null) : null,
          busy: c ? c.busy : null,
          wsClients: p.live.size,
        };
        return page(principal!, "Agent activity", "agents", AgentsPage({ act, consumer }));
      })
      .get("/alerts", async ({ principal }) => {
        const [list, rules] = await Promise.all([p.queries.alerts(), p.alerts.rules()]);
        return page(
          principal!,
          "Alerts",
          "alerts",
          AlertsPage({ list: list.map((x) => ({ a: { ...x.a, kind: x.a.kind as never }, ackBy: x.ackBy })), rules, admin: hasRole(principal!.user.role, "admin"), csrf: principal!.csrf }),
        );
      })
      .post("/alerts/:id/ack", async ({ principal, params, request }) => {
        const id = Number(params.id);
        if (!Number.isSafeInteger(id)) throw new AppError("not_found", "no such alert", { status: 404 });
        await p.alerts.acknowledge(id, principal!.user.id);
        if (!isHtmx(request.headers)) return redirect(`${BASE}/alerts`);
        const [row] = (await p.queries.alerts(1000)).filter((x) => x.a.id === id);
        if (!row) throw new AppError("not_found", "no such alert", { status: 404 });
        return htmlResponse(AlertRow({ a: { ...row.a, kind: row.a.kind as never }, ackBy: row.ackBy }));
      })
      .post(
        "/alerts/rules",
        async ({ principal, body }) => {
          need(principal!, "admin");
          await p.alerts.createRule(parseRule(body as Record<string, unknown>));
          return redirect(`${BASE}/alerts`);
        },
        { parse: "urlencoded" },
      )
      .post("/alerts/rules/:id/:op", async ({ principal, params }) => {
        need(principal!, "admin");
        const id = Number(params.id);
        const rule = (await p.alerts.rules()).find((r) => r.id === id);
        if (!rule) throw new AppError("not_found", "no such rule", { status: 404 });
        if (params.op === "toggle") await p.alerts.setEnabled(id, !rule.enabled);
        else if (params.op === "delete") await p.alerts.deleteRule(id);
        else throw new AppError("not_found", "no such operation", { status: 404 });
        return redirect(`${BASE}/alerts`);
      })
      .get("/models", async ({ principal }) => {
        need(principal!, "admin");
        let report: CalibrationReport | null = null;
        let error: string | undefined;
        if (d.models) {
          const f = Bun.file(d.models.calibrationReport);
          if (await f.exists()) {
            try {
              report = (await f.json()) as CalibrationReport;
            } catch {
              error = "The calibration report is not valid JSON: run `bun run eval:intent --split dev --report` again.";
            }
          }
        }
        return page(principal!, "Models", "models", ModelsPage({ report, versions: d.models?.versions?.() ?? null, error }));
      })
      .get("/users", async ({ principal }) => {
        need(principal!, "admin");
        return page(principal!, "Users", "users", UsersPage({ users: await p.accounts.list(), csrf: principal!.csrf }));
      })
      .post(
        "/users",
        async ({ principal, body }) => {
          need(principal!, "admin");
          const f = body as Record<string, string | undefined>;
          try {
            const role = (ROLES as readonly string[]).includes(f.role ?? "") ? (f.role as Role) : "agent";
            await p.accounts.createUser({ email: f.email ?? "", name: f.name ?? "", role, password: f.password ?? "" });
          } catch (e) {
            if (!(e instanceof AppError) || e.status >= 500) throw e;
            return htmlResponse(Layout({ title: "Users", user: principal!.user, csrf: principal!.csrf, active: "users", children: UsersPage({ users: await p.accounts.list(), csrf: principal!.csrf, error: e.message }) }), {
              status: e.status,
            });
          }
          return redirect(`${BASE}/users`);
        },
        { parse: "urlencoded" },
      )
      .post("/privacy/erase", async ({ principal, body }) => {
        // Right to erasure: admins only, CSRF-checked like every dashboard POST; the audit keeps who and counts, not the id.
        need(principal!, "admin");
        if (!d.privacy) throw new AppError("unavailable", "erasure is not available in this process", { status: 503 });
        const customer = body && typeof body === "object" ? (body as Record<string, unknown>).customer : undefined;
        if (typeof customer !== "string" || !customer.trim() || customer.length > 256) throw new AppError("invalid_customer", "customer (1-256 characters) is required", { status: 422 });
        const r = await d.privacy.eraseCustomer(customer, `user:${principal!.user.id}`);
        return Response.json({ audit_id: r.auditId, counts: r.counts }, { headers: { "cache-control": "no-store" } });
      })
      .post("/users/:id/:op", async ({ principal, params }) => {
        need(principal!, "admin");
        if (params.op !== "enable" && params.op !== "disable") throw new AppError("not_found", "no such operation", { status: 404 });
        if (!UUID.test(params.id)) throw new AppError("not_found", "no such user", { status: 404 });
        if (params.id === principal!.user.id) throw new AppError("invalid_user", "you cannot disable yourself", { status: 422 });
        await p.accounts.setDisabled(params.id, params.op === "disable");
        if (params.op === "disable") p.live.closeWhere((c) => c.user.id === params.id);
        return redirect(`${BASE}/users`);
      })
      .onError(({ error, request, set }) => {
        if (!(error instanceof AppError) || !isHtmx(request.headers)) return;
        set.status = error.status;
        return new Response(`<p class="error" role="alert">${Bun.escapeHTML(error.message)}</p>`, { status: error.status, headers: { ...PAGE_HEADERS, "hx-retarget": "#toasts", "hx-reswap": "beforeend" } });
      })
  );
}
