import { Elysia, t } from "elysia";
import { presentedKey, requireApiKey } from "../../http/auth.ts";
import type { ReplyApprovals } from "./approval.ts";

const UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const params = t.Object({ id: t.String({ pattern: UUID }) });
const by = t.Optional(t.String({ minLength: 1, maxLength: 128 }));

/** The reviewer label for the audit: the caller's name if given, plus which key (by its last 4 characters) was used. */
function reviewer(headers: Headers, name?: string): { label: string } {
  const key = presentedKey(headers);
  const keyTag = key ? `key…${key.slice(-4)}` : "dev";
  return { label: name ? `${name} (${keyTag})` : keyTag };
}

/**
 * Review API for drafted replies (API key, like ingestion): read a result, approve, edit-and-approve, or reject.
 * The dashboard's own session-authenticated buttons call the same ReplyApprovals.
 */
export function draftReviewRoutes(d: { approvals: ReplyApprovals; apiKeys: string[] }) {
  return new Elysia({ name: "draft-review", prefix: "/api/replies" })
    .onBeforeHandle(({ request }) => requireApiKey(d.apiKeys, request.headers))
    .get("/:id", async ({ params: p }) => {
      const ev = await d.approvals.get(p.id);
      return { message_id: ev.message_id, conversation_id: ev.conversation_id, source: ev.source, reply: ev.outputs.reply ?? null };
    }, { params })
    .post("/:id/approve", async ({ params: p, body, request }) => {
      const ev = await d.approvals.decide(p.id, "approve", reviewer(request.headers, body?.by));
      return { message_id: p.id, reply: ev.outputs.reply };
    }, { params, body: t.Optional(t.Object({ by })) })
    .post("/:id/edit", async ({ params: p, body, request }) => {
      const ev = await d.approvals.decide(p.id, "edit", reviewer(request.headers, body.by), { text: body.text });
      return { message_id: p.id, reply: ev.outputs.reply };
    }, { params, body: t.Object({ text: t.String({ minLength: 1, maxLength: 20_000 }), by }) })
    .post("/:id/reject", async ({ params: p, body, request }) => {
      const ev = await d.approvals.decide(p.id, "reject", reviewer(request.headers, body.by), { reason: body.reason });
      return { message_id: p.id, reply: ev.outputs.reply };
    }, { params, body: t.Object({ reason: t.String({ minLength: 1, maxLength: 2000 }), by }) });
}
