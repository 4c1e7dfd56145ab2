import { desc, eq, sql } from "drizzle-orm";
import { Elysia, t } from "elysia";
import { DemoPage } from "../../views/demo.tsx";
import { htmlResponse } from "../dashboard/http.ts";
import type { Db } from "../db/store.ts";
import { messages, replyDecisions, results } from "../db/schema.ts";
import { cipherOf, FIELDS } from "../privacy/index.ts";
import { AppError } from "../errors.ts";
import { doc } from "../http/openapi.ts";
import type { Logger } from "../obs/log.ts";
import { defaultGuard, rateLimitedResponse, type AbuseGuard } from "../ratelimit/guard.ts";
import { identify, type IdentityOptions } from "./identity.ts";

/** Dependencies of the widget routes. */
export interface WidgetDeps {
  db: Db;
  identity: IdentityOptions;
  log: Logger;
  /** Abuse limits (history per IP and per visitor); a per-process default when omitted. */
  guard?: AbuseGuard;
}

const CLIENT = new URL("./client.ts", import.meta.url).pathname;
let bundle: Promise<{ code: string; etag: string }> | null = null;

/** Bundles the widget once per process with `Bun.build` (minified, browser target, no dependencies). */
export function buildWidget(): Promise<{ code: string; etag: string }> {
  bundle ??= (async () => {
    const out = await Bun.build({ entrypoints: [CLIENT], target: "browser", minify: true, format: "iife" });
    if (!out.success) throw new AppError("widget_build_failed", out.logs.map((l) => l.message).join("; "));
    const code = await out.outputs[0]!.text();
    return { code, etag: `"${Bun.hash(code).toString(36)}"` };
  })().catch((e) => {
    bundle = null;
    throw e;
  });
  return bundle;
}

/** The body of POST /widget/history: the same identity the chat socket takes. */
const HistoryRequest = t.Object({ visitor: t.Optional(t.String({ maxLength: 128 })), token: t.Optional(t.String({ maxLength: 4096 })) });

const CORS = { "access-control-allow-origin": "*", "access-control-allow-methods": "POST, OPTIONS", "access-control-allow-headers": "content-type", "access-control-max-age": "600" };

/**
 * The customer-facing widget: the script bundle, a demo page of a sample shop, and the history a reconnecting widget
 * reads to catch up on replies it missed. Public by design; history is scoped by the visitor id or signed token,
 * exactly like the chat socket, so it only ever returns the caller's own conversation.
 */
export function widgetRoutes(d: WidgetDeps) {
  const guard = d.guard ?? defaultGuard();
  guard.gate("POST", "/widget/history", "history_ip", CORS);
  return new Elysia({ name: "widget", prefix: "/widget" })
    .get(
      "/widget.js",
      async ({ request }) => {
        const b = await buildWidget();
        if (request.headers.get("if-none-match") === b.etag) return new Response(null, { status: 304, headers: { etag: b.etag } });
        return new Response(b.code, {
          headers: { "content-type": "text/javascript; charset=utf-8", etag: b.etag, "cache-control": "public, max-age=300", "access-control-allow-origin": "*" },
        });
      },
      { detail: doc({ summary: "The widget script (one <script> tag embeds the chat)", tag: "widget", auth: "public", produces: { type: "text/javascript", description: "Minified bundle; ETag / 304." } }) },
    )
    .get("/demo", () => htmlResponse(DemoPage()), {
      detail: doc({ summary: "A demo bank site with the widget embedded", tag: "widget", auth: "public", produces: { type: "text/html", description: "The demo page." } }),
    })
    .options("/history", () => new Response(null, { status: 204, headers: CORS }), {
      detail: doc({ summary: "CORS preflight of the widget history", tag: "widget", auth: "public", produces: { status: 204, type: "none", description: "CORS headers." } }),
    })
    .post(
      "/history",
      async ({ body, request, server }) => {
        const b = (body && typeof body === "object" ? body : {}) as { visitor?: unknown; token?: unknown };
        const ip = guard.ip(request, server);
        const byIp = await guard.refusal(["history_ip", ip]);
        if (byIp) return rateLimitedResponse(byIp, CORS);
        const id = identify({ visitor: typeof b.visitor === "string" ? b.visitor : undefined, token: typeof b.token === "string" ? b.token : undefined }, d.identity);
        if (!id.ok) return Response.json(id.error.toJSON(), { status: id.error.status, headers: CORS });
        const byVisitor = await guard.refusal(["history_visitor", id.value.conversationId]);
        if (byVisitor) return rateLimitedResponse(byVisitor, CORS);
        const cipher = cipherOf(d.db);
        const rows = await d.db
          .select({
            id: messages.id,
            text: messages.text,
            at: messages.receivedAt,
            clientId: sql<string | null>`${messages.metadata}->>'client_id'`,
            action: replyDecisions.action,
            finalText: replyDecisions.finalText,
            replyStatus: sql<string | null>`${results.outputs}->'reply'->>'status'`,
            replyText: sql<string | null>`${results.outputs}->'reply'->>'text'`,
          })
          .from(messages)
          .leftJoin(results, eq(results.messageId, messages.id))
          .leftJoin(replyDecisions, eq(replyDecisions.messageId, messages.id))
          .where(eq(messages.conversationId, id.value.conversationId))
          .orderBy(desc(messages.receivedAt))
          .limit(100);
        const list = rows.reverse().map((r) => ({
          id: r.id,
          client_id: r.clientId,
          text: cipher.open(r.text, FIELDS.messageText),
          at: r.at.toISOString(),
          reply: r.action === "approved" || r.action === "edited" ? r.finalText : r.replyStatus === "auto_sent" ? r.replyText : null,
        }));
        return Response.json({ conversation_id: id.value.conversationId, messages: list }, { headers: { ...CORS, "cache-control": "no-store" } });
      },
      {
        parse: "json",
        detail: doc({
          summary: "The caller's own conversation history (the widget catches up after a reconnect)",
          description: "Scoped by `visitor` or signed `token` exactly like the chat socket: it only ever returns the caller's conversation (last 100 messages).",
          tag: "widget",
          auth: "public",
          errors: [401, 429],
          body: { schema: HistoryRequest },
          produces: { description: "{ conversation_id, messages: [{ id, client_id, text, at, reply }] }" },
        }),
      },
    );
}
