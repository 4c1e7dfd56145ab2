import { Elysia, t, type TSchema } from "elysia";
import { AppError } from "../../errors.ts";
import { authorize, callerName, type KeyList } from "../../http/auth.ts";
import { doc, ErrorBody } from "../../http/openapi.ts";
import { defaultGuard, type AbuseGuard } from "../../ratelimit/guard.ts";
import type { ChannelStore, ReplyRow } from "../store.ts";
import type { ReplyService } from "./service.ts";

/** The API view of a reply record. */
export function replyView(r: ReplyRow) {
  return {
    id: r.id,
    idempotency_key: r.idempotencyKey,
    message_id: r.messageId,
    conversation_id: r.conversationId,
    channel: r.channel,
    status: r.status,
    attempts: r.attempts,
    approved_by: r.approvedBy,
    approved_at: r.approvedAt.toISOString(),
    sent_at: r.sentAt?.toISOString() ?? null,
    external_id: r.externalId,
    last_error: r.lastError,
  };
}

const UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

const Nullable = <S extends TSchema>(s: S) => t.Union([s, t.Null()]);
/** The API view of a reply record, as a schema (replyView). */
const ReplyRecord = t.Object({
  id: t.String(),
  idempotency_key: t.String(),
  message_id: Nullable(t.String()),
  conversation_id: t.String(),
  channel: t.String(),
  status: t.String({ description: "pending, sent or failed" }),
  attempts: t.Number(),
  approved_by: t.String(),
  approved_at: t.String(),
  sent_at: Nullable(t.String()),
  external_id: Nullable(t.String()),
  last_error: Nullable(t.String()),
});

/**
 * `POST /api/channels/replies` sends an approved reply on the message's channel (idempotent by key);
 * `GET /api/channels/replies/:id` and `GET /api/channels/conversations/:id/replies` read the record. An API key with
 * the `reply` scope is required; `approved_by` is the key's configured name (a body field of that name is ignored).
 */
export function replyRoutes(d: { replies: ReplyService; store: ChannelStore; apiKeys: KeyList; guard?: AbuseGuard }) {
  const guard = d.guard ?? defaultGuard();
  return new Elysia({ name: "channels-replies", prefix: "/api/channels" })
    .derive(async ({ request }) => {
      const key = authorize(d.apiKeys, request.headers, "reply");
      if (key) await guard.check(["review_key", key.name]);
      return { caller: callerName(key) };
    })
    .post(
      "/replies",
      async ({ body, set, caller }) => {
        const row = await d.replies.send({
          messageId: body.message_id,
          text: body.text,
          approvedBy: caller,
          idempotencyKey: body.idempotency_key,
        });
        set.status = row.status === "sent" ? 201 : row.status === "failed" ? 422 : 202;
        return replyView(row);
      },
      {
        body: t.Object({
          message_id: t.String({ pattern: UUID }),
          text: t.String({ minLength: 1, maxLength: 20_000 }),
          idempotency_key: t.Optional(t.String({ minLength: 1, maxLength: 256 })),
        }),
        detail: doc({
          summary: "Send an approved reply on the message's channel",
          description: "Idempotent by `idempotency_key`: 201 sent, 202 queued for retry, 422 failed for good.",
          tag: "replies",
          auth: "reply",
          errors: [404, 409, 422, 429, 503],
        }),
        response: { 201: ReplyRecord, 202: ReplyRecord, 422: t.Union([ReplyRecord, ErrorBody]) },
      },
    )
    .get("/replies/:id", async ({ params }) => {
      if (!new RegExp(UUID).test(params.id)) throw new AppError("not_found", "no such reply", { status: 404 });
      const r = await d.store.replyById(params.id);
      if (!r) throw new AppError("not_found", "no such reply", { status: 404 });
      return replyView(r);
    }, { detail: doc({ summary: "Read a reply record", tag: "replies", auth: "reply", errors: [404, 429] }), response: { 200: ReplyRecord } })
    .get("/conversations/:id/replies", async ({ params }) => ({ replies: (await d.store.repliesOf(params.id)).map(replyView) }), {
      detail: doc({ summary: "List the reply records of a conversation", tag: "replies", auth: "reply", errors: [429] }),
      response: { 200: t.Object({ replies: t.Array(ReplyRecord) }) },
    });
}
