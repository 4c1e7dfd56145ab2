import type { TProperties } from "@sinclair/typebox";
import { Elysia, t } from "elysia";
import type { ThreadEntry, Correction } from "../../../views/conversation.tsx";
import { BASE, Layout } from "../../../views/layout.tsx";
import { AppError } from "../../errors.ts";
import { cipherOf, FIELDS, UNREADABLE } from "../../privacy/index.ts";
import type { AbuseGuard } from "../../ratelimit/guard.ts";
import type { AlertEngine } from "../alerts.ts";
import { type Accounts, cookieNames, hasRole, type Principal, readCookie, type Role, safeEqual } from "../auth.ts";
import { htmlResponse } from "../http.ts";
import type { LiveDashboards } from "../live.ts";
import type { DashboardQueries } from "../queries.ts";
import type { DashboardDeps } from "../index.ts";

/** The dashboard's long-lived parts the routes use. */
export interface Parts {
  accounts: Accounts;
  queries: DashboardQueries;
  live: LiveDashboards;
  alerts: AlertEngine;
  guard: AbuseGuard;
}

/** A path id that must be a UUID (anything else is a 404 without touching the database). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for requests HTMX makes (they get fragments, not pages or redirects). */
export const isHtmx = (h: Headers) => h.get("hx-request") === "true";

/**
 * A dashboard form body: the given fields plus the CSRF token (`_csrf`, unless the X-CSRF-Token header carries it).
 * Fields are optional strings at this layer; the handlers answer a missing or bad value with their own message.
 */
export function form<P extends TProperties>(props: P) {
  return t.Object({ _csrf: t.Optional(t.String({ maxLength: 256 })), ...props });
}

/** An optional form field. */
export const field = (maxLength = 100_000, description?: string) => t.Optional(t.String({ maxLength, ...(description ? { description } : {}) }));

/** What every dashboard route module is built from. */
export interface RouteContext {
  d: DashboardDeps;
  p: Parts;
  cookies: { names: { session: string; csrf: string }; secure: boolean };
  /** The signed-in principal of a request, or null. */
  principalOf(h: Headers): Promise<Principal | null>;
  /** A full dashboard page for the principal. */
  page(pr: Principal, title: string, active: string, body: JSX.Element, extra?: { live?: string; scripts?: string[]; styles?: string[]; status?: number }): Promise<Response>;
  /** The thread of a conversation as view entries (decrypted). */
  loadThread(conversationId: string): Promise<ThreadEntry[]>;
  /** One message's entry, or null. */
  entryOf(messageId: string): Promise<ThreadEntry | null>;
  /** The label corrections of some messages as view rows. */
  correctionsOf(ids: string[]): Promise<Correction[]>;
  /** The plugin every signed-in route module uses: the `session` macro. */
  session: ReturnType<typeof sessionPlugin>;
}

let instances = 0;
/** The principal a request was admitted with (set by the session check, read by the handler's resolve). */
const signedIn = new WeakMap<Request, Principal>();

/**
 * `session: role` on a route: rejects a request without a valid session (a redirect to sign-in for pages, 401 with
 * HX-Redirect for HTMX, 401 otherwise), any state-changing request without the session's CSRF token (403), and a
 * principal below `role` (403). The handler then gets a non-null `principal`.
 */
function sessionPlugin(principalOf: RouteContext["principalOf"]) {
  return new Elysia({ name: "dashboard-session", seed: ++instances })
    .macro({
      session: (role: Role) => ({
        // transform runs before body validation, so an anonymous request is refused before its body is looked at.
        async transform({ request, body, set }) {
          const principal = await principalOf(request.headers);
          if (!principal) {
            // Thrown, so the app's error mapping answers; the headers set here travel with it.
            set.headers["cache-control"] = "no-store";
            if (isHtmx(request.headers)) {
              set.headers["hx-redirect"] = `${BASE}/login`;
            } else if (request.method === "GET") {
              const url = new URL(request.url);
              set.headers.location = `${BASE}/login?next=${encodeURIComponent(`${url.pathname}${url.search}`)}`;
              throw new AppError("sign_in", "sign in first", { status: 303 });
            }
            throw new AppError("unauthorized", "sign in first", { status: 401 });
          }
          if (request.method !== "GET" && request.method !== "HEAD") {
            const sent = request.headers.get("x-csrf-token") ?? (body && typeof body === "object" ? (body as { _csrf?: unknown })._csrf : undefined);
            if (typeof sent !== "string" || !safeEqual(sent, principal.csrf)) throw new AppError("csrf", "missing or invalid CSRF token", { status: 403 });
          }
          if (!hasRole(principal.user.role, role)) throw new AppError("forbidden", "your role does not allow this", { status: 403 });
          signedIn.set(request, principal);
        },
        resolve({ request }) {
          const principal = signedIn.get(request);
          if (!principal) throw new AppError("unauthorized", "sign in first", { status: 401 });
          return { principal };
        },
      }),
    });
}

/** Builds the shared context of the dashboard's route modules. */
export function routeContext(d: DashboardDeps, p: Parts): RouteContext {
  const cipher = cipherOf(d.store.db);
  const names = cookieNames(d.settings.cookieSecure);
  const principalOf = (h: Headers) => p.accounts.session(readCookie(h.get("cookie"), names.session));
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
  return {
    d,
    p,
    cookies: { names, secure: d.settings.cookieSecure },
    principalOf,
    page: (pr, title, active, body, { status, ...extra } = {}) => htmlResponse(Layout({ title, user: pr.user, csrf: pr.csrf, active, children: body, ...extra }), { status }),
    loadThread,
    async entryOf(messageId) {
      const conversationId = await p.queries.conversationOf(messageId);
      if (!conversationId) return null;
      return (await loadThread(conversationId)).find((e) => e.id === messageId) ?? null;
    },
    correctionsOf: async (ids) => (await p.queries.corrections(ids)).map((c) => ({ field: c.field, previous: c.previous, value: c.value, by: c.by, at: c.at })),
    session: sessionPlugin(principalOf),
  };
}
