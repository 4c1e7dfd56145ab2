import { Elysia, t } from "elysia";
import { AppError } from "../../errors.ts";
import { requireApiKey } from "../../http/auth.ts";
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

/**
 * `POST /api/channels/replies` sends an approved reply on the message's channel (idempotent by key);
 * `GET /api/channels/replies/:id` and `GET /api/channels/conversations/:id/replies` read the record. API key required.
 */
export function replyRoutes(d: { replies: ReplyService; store: ChannelStore; apiKeys: string[] }) {
  return new Elysia({ name: "channels-replies", prefix: "/api/channels" })
    .onBeforeHandle(({ request }) => requireApiKey(d.apiKeys, request.headers))
    .post(
      "/replies",
      async ({ body, set }) => {
        const row = await d.replies.send({
          messageId: body.message_id,
          text: body.text,
          approvedBy: body.approved_by,
          idempotencyKey: body.idempotency_key,
        });
        set.status = row.status === "sent" ? 201 : row.status === "failed" ? 422 : 202;
        return replyView(row);
      },
      {
        body: t.Object({
          message_id: t.String({ pattern: UUID }),
          text: t.String({ minLength: 1, maxLength: 20_000 }),
          approved_by: t.String({ minLength: 1, maxLength: 256 }),
          idempotency_key: t.Optional(t.String({ minLength: 1, maxLength: 256 })),
        }),
      },
    )
    .get("/replies/:id", async ({ params }) => {
      if (!new RegExp(UUID).test(params.id)) throw new AppError("not_found", "no such reply", { status: 404 });
      const r = await d.store.replyById(params.id);
      if (!r) throw new AppError("not_found", "no such reply", { status: 404 });
      return replyView(r);
    })
    .get("/conversations/:id/replies", async ({ params }) => ({ replies: (await d.store.repliesOf(params.id)).map(replyView) }));
}
