import { Elysia, t } from "elysia";
import { ConversationPage, Draft, Relabel } from "../../../views/conversation.tsx";
import { FeedPage } from "../../../views/feed.tsx";
import { BASE } from "../../../views/layout.tsx";
import { AppError } from "../../errors.ts";
import { doc } from "../../http/openapi.ts";
import { cipherOf, FIELDS } from "../../privacy/index.ts";
import { filtersToQuery, parseFilters } from "../filters.ts";
import { htmlResponse, redirect } from "../http.ts";
import { REASON_MAX_CHARS, REVIEW_ACTIONS } from "../../schema/events.ts";
import { field, form, isHtmx, type RouteContext, UUID } from "./context.ts";

const html = (summary: string, description = "The page.") => doc({ summary, tag: "dashboard", auth: "session", produces: { type: "text/html", description } });

/** The live feed, a conversation, draft decisions, label corrections and their export. */
export function conversationRoutes(c: RouteContext) {
  const { d, p, entryOf, correctionsOf } = c;
  const db = d.store.db;
  const cipher = cipherOf(db);
  return (
    new Elysia({ prefix: BASE })
      .use(c.session)
      .get(
        "/",
        async ({ principal, query }) => {
          const filters = parseFilters(query);
          const [items, facets] = await Promise.all([p.queries.feed(filters), p.queries.facets()]);
          const qs = filtersToQuery(filters);
          return c.page(principal, "Live feed", "feed", FeedPage({ items, filters, facets }), { live: `page=feed${qs ? `&${qs}` : ""}` });
        },
        { session: "agent", detail: html("Live feed of processed messages (filters: channel, intent, sentiment, urgency, range, q)") },
      )
      .get(
        "/conversations/:id",
        async ({ principal, params, query }) => {
          const entries = await c.loadThread(params.id);
          if (entries.length === 0) throw new AppError("not_found", "no such conversation", { status: 404 });
          const selected = entries.find((e) => e.id === query.m) ?? [...entries].reverse().find((e) => e.conversationId === params.id) ?? entries[entries.length - 1]!;
          const [corrections, facets, others] = await Promise.all([correctionsOf([selected.id]), p.queries.facets(), p.queries.otherConversations(params.id)]);
          return c.page(
            principal,
            `Conversation ${params.id}`,
            "feed",
            ConversationPage({ conversationId: params.id, entries, selected, corrections, intents: facets.intents, others }),
            { live: `page=conversation&conversation=${encodeURIComponent(params.id)}` },
          );
        },
        {
          session: "agent",
          query: t.Object({ m: t.Optional(t.String({ maxLength: 64, description: "The selected message id." })) }),
          detail: doc({ summary: "A conversation: its thread, drafts, labels and the customer's other conversations", tag: "dashboard", auth: "session", errors: [404], produces: { type: "text/html", description: "The page." } }),
        },
      )
      .post(
        "/messages/:id/decision",
        async ({ principal, params, body, request }) => {
          const action = REVIEW_ACTIONS.find((a) => a === body.action);
          if (!action) throw new AppError("invalid_decision", "action must be approve, edit or reject", { status: 422 });
          if (!UUID.test(params.id)) throw new AppError("not_found", "no processed message with this id", { status: 404 });
          // The one decision service (src/agents/response ReplyApprovals) validates, records, publishes and hands off.
          let status = 200;
          try {
            await d.approvals.decide(params.id, action, { label: principal.user.email, userId: principal.user.id }, { text: body.text, reason: body.reason });
          } catch (e) {
            if (!(e instanceof AppError) || e.status !== 409) throw e;
            status = 409;
          }
          const entry = await entryOf(params.id);
          if (!entry) throw new AppError("not_found", "no processed message with this id", { status: 404 });
          if (!isHtmx(request.headers)) return redirect(`${BASE}/conversations/${encodeURIComponent(entry.conversationId)}?m=${params.id}`);
          return htmlResponse(Draft({ e: entry }), { status });
        },
        {
          parse: "urlencoded",
          session: "agent",
          body: form({ action: field(20, "approve, edit or reject"), text: field(100_000, "the edited reply (edit)"), reason: field(REASON_MAX_CHARS, "why (reject)") }),
          params: t.Object({ id: t.String() }),
          detail: doc({
            summary: "Approve, edit or reject a drafted reply (HTML form; HTMX gets the updated draft fragment)",
            tag: "dashboard",
            auth: "session",
            errors: [404, 409, 422],
            produces: { type: "text/html", description: "The draft fragment (HTMX), else a redirect to the conversation." },
          }),
        },
      )
      .post(
        "/messages/:id/labels",
        async ({ principal, params, body, request }) => {
          const f = body.field;
          if (!UUID.test(params.id)) throw new AppError("not_found", "no processed message with this id", { status: 404 });
          if (f !== "intent" && f !== "sentiment" && f !== "urgency") throw new AppError("invalid_label", "field must be intent, sentiment or urgency", { status: 422 });
          const value = (body.value ?? "").trim().slice(0, 100);
          if (!value) throw new AppError("invalid_label", "value is required", { status: 422 });
          const row = await p.queries.labelTarget(params.id);
          if (!row) throw new AppError("not_found", "no processed message with this id", { status: 404 });
          // The message text is already sealed under messages.text: re-seal it under this column's name.
          const sealed = cipher.seal(cipher.open(row.text, FIELDS.messageText), FIELDS.correctionText)!;
          await p.queries.addCorrection({ messageId: params.id, field: f, previous: row[f], value, text: sealed, userId: principal.user.id });
          if (!isHtmx(request.headers)) return redirect(`${BASE}/conversations/${encodeURIComponent(row.conversationId)}?m=${params.id}`);
          const entry = await entryOf(params.id);
          const facets = await p.queries.facets();
          return htmlResponse(Relabel({ e: entry!, corrections: await correctionsOf([params.id]), intents: facets.intents }));
        },
        {
          parse: "urlencoded",
          session: "agent",
          body: form({ field: field(20, "intent, sentiment or urgency"), value: field(1000, "the correct label") }),
          detail: doc({
            summary: "Correct a label (intent, sentiment or urgency) of a processed message; kept for retraining",
            tag: "dashboard",
            auth: "session",
            errors: [404, 422],
            produces: { type: "text/html", description: "The relabel fragment (HTMX), else a redirect to the conversation." },
          }),
        },
      )
      .get(
        "/labels.jsonl",
        async () => {
          const rows = await p.queries.allCorrections();
          const body = rows.map((r) => JSON.stringify({ message_id: r.messageId, field: r.field, label: r.value, model_label: r.previous, text: cipher.open(r.text, FIELDS.correctionText), at: r.createdAt.toISOString() })).join("\n");
          return new Response(body ? `${body}\n` : "", { headers: { "content-type": "application/x-ndjson", "content-disposition": 'attachment; filename="label-corrections.jsonl"', "cache-control": "no-store" } });
        },
        {
          session: "admin",
          detail: doc({ summary: "Export every label correction as JSON lines (admin; training data)", tag: "dashboard", auth: "session", produces: { type: "application/x-ndjson", description: "One correction per line." } }),
        },
      )
  );
}
