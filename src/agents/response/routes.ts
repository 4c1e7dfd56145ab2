import { Elysia, t } from "elysia";
import { authorize, callerName, type KeyList } from "../../http/auth.ts";
import { doc } from "../../http/openapi.ts";
import { defaultGuard, type AbuseGuard } from "../../ratelimit/guard.ts";
import { REASON_MAX_CHARS } from "../../schema/events.ts";
import type { ReplyApprovals } from "./approval.ts";

const UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const params = t.Object({ id: t.String({ pattern: UUID, description: "The customer message id." }) });
const Reply = t.Unknown({ description: "The drafted reply: text, status (draft, auto_sent, approved, rejected...), citations, reviewer." });
const Decided = t.Object({ message_id: t.String(), reply: Reply });
const decided = (summary: string) => ({ params, detail: doc({ summary, tag: "review", auth: "review", errors: [404, 409, 422, 429] }), response: { 200: Decided } });

/**
 * Review API for drafted replies (API key with the `review` scope): read a result, approve, edit-and-approve, or
 * reject. The audit records the key's configured name as the reviewer, never a name from the request body.
 * The dashboard's own session-authenticated buttons call the same ReplyApprovals.
 */
export function draftReviewRoutes(d: { approvals: ReplyApprovals; apiKeys: KeyList; guard?: AbuseGuard }) {
  const guard = d.guard ?? defaultGuard();
  return new Elysia({ name: "draft-review", prefix: "/api/replies" })
    .derive(async ({ request }) => {
      const key = authorize(d.apiKeys, request.headers, "review");
      if (key) await guard.check(["review_key", key.name]);
      return { reviewer: { label: callerName(key) } };
    })
    .get("/:id", async ({ params: p }) => {
      const ev = await d.approvals.get(p.id);
      return { message_id: ev.message_id, conversation_id: ev.conversation_id, source: ev.source, reply: ev.outputs.reply ?? null };
    }, {
      params,
      detail: doc({ summary: "Read a processed message's drafted reply", tag: "review", auth: "review", errors: [404, 422, 429] }),
      response: { 200: t.Object({ message_id: t.String(), conversation_id: t.String(), source: t.String(), reply: Reply }) },
    })
    .post("/:id/approve", async ({ params: p, reviewer }) => {
      const ev = await d.approvals.decide(p.id, "approve", reviewer);
      return { message_id: p.id, reply: ev.outputs.reply };
    }, decided("Approve the draft as written (handed to the channel's reply service)"))
    .post("/:id/edit", async ({ params: p, body, reviewer }) => {
      const ev = await d.approvals.decide(p.id, "edit", reviewer, { text: body.text });
      return { message_id: p.id, reply: ev.outputs.reply };
    }, { ...decided("Edit the draft and approve the edited text"), body: t.Object({ text: t.String({ minLength: 1, maxLength: 20_000 }) }) })
    .post("/:id/reject", async ({ params: p, body, reviewer }) => {
      const ev = await d.approvals.decide(p.id, "reject", reviewer, { reason: body.reason });
      return { message_id: p.id, reply: ev.outputs.reply };
    }, { ...decided("Reject the draft with a reason (nothing is sent)"), body: t.Object({ reason: t.String({ minLength: 1, maxLength: REASON_MAX_CHARS }) }) });
}
