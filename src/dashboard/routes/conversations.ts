import { Elysia, t } from "elysia";
import { ConversationPage, Draft, Relabel } from "../../../views/conversation.tsx";
import { FeedPage } from "../../../views/feed.tsx";
import { BASE } from "../../../views/layout.tsx";
import { replyDecisions } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import { doc } from "../../http/openapi.ts";
import { cipherOf, FIELDS } from "../../privacy/index.ts";
import { filtersToQuery, parseFilters } from "../filters.ts";
import { htmlResponse, redirect } from "../http.ts";
import type { DecisionEvent } from "../live.ts";
import { replyOf } from "../outputs.ts";
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
        {
          parse: "urlencoded",
          session: "agent",
          body: form({ action: field(20, "approve, edit or reject"), text: field(100_000, "the edited reply (edit)"), reason: field(100_000, "why (reject)") }),
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
