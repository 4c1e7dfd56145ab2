import { Elysia, t } from "elysia";
import { BASE } from "../../../views/layout.tsx";
import { AppError } from "../../errors.ts";
import { doc } from "../../http/openapi.ts";
import type { Principal } from "../auth.ts";
import { parseFilters } from "../filters.ts";
import type { RouteContext } from "./context.ts";

/** The dashboard's live socket: the session is checked on upgrade and re-checked while it is open (LiveDashboards). */
export function socketRoutes(c: RouteContext) {
  const { d, p } = c;
  return (
    new Elysia({ prefix: BASE })
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
        detail: doc({
          summary: "The dashboard's live socket (WebSocket upgrade): HTML fragments pushed to the open page",
          description: "Push-only (HTMX ws extension): feed rows, conversation updates, streamed drafts and alert toasts for the signed-in user. Same-origin only; closed with 4401 when the session ends.",
          tag: "dashboard",
          auth: "session",
        }),
        async beforeHandle(ctx) {
          // Elysia runs a socket's beforeHandle twice on the same context; the session is looked up once.
          if ((ctx as unknown as { principal?: Principal }).principal) return;
          const origin = ctx.request.headers.get("origin");
          const host = ctx.request.headers.get("host");
          if (origin && host && new URL(origin).host !== host) throw new AppError("forbidden", "cross-origin dashboard socket refused", { status: 403 });
          const pr = await c.principalOf(ctx.request.headers);
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
  );
}
