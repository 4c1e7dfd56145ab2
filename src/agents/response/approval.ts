import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { EventBus } from "../../bus/interface.ts";
import { outbox, replyDecisions, results } from "../../db/schema.ts";
import type { Store } from "../../db/store.ts";
import { AppError, toAppError } from "../../errors.ts";
import type { Logger } from "../../obs/log.ts";
import { Outbox } from "../../outbox/outbox.ts";
import type { SessionStore } from "../../session/interface.ts";
import { DECISION_OF, outputOf, REASON_MAX_CHARS, REVIEW_ACTIONS, type ReplyReview, type ResultEvent, type ReviewAction } from "../../schema/events.ts";
import { logReply, replyMemoryOf } from "./memory.ts";

/**
 * The reply-back service as the approval flow needs it (src/channels/replies ReplyService satisfies it): record and
 * send one approved reply on the message's channel, idempotently by `idempotencyKey`.
 */
export interface ReplyHandoff {
  send(req: { messageId: string; text: string; approvedBy: string; approvedAt?: Date; idempotencyKey?: string }): Promise<{ id: string; status: string }>;
}

export type { ReviewAction };

/** Who reviewed: a label for the audit (API key holder or dashboard user) and the dashboard user id when known. */
export interface Reviewer {
  label: string;
  userId?: string;
}

/** Dependencies of the approval flow. */
export interface ApprovalDeps {
  store: Store;
  bus: EventBus;
  /** response-events: the updated result is re-published so the dashboard and the chat widget see the decision. */
  responsesTopic: string;
  sessions?: Pick<SessionStore, "get" | "setState">;
  handoff?: ReplyHandoff;
  log: Logger;
  maxTextChars?: number;
  /** The decision, the updated result and its event are written in one transaction through it (default: a private one). */
  outbox?: Outbox;
}

/**
 * The one decision service for drafts (review API and dashboard buttons alike): approve as is, edit then approve,
 * or reject with a reason. Only a `draft` can be decided, once (the `reply_decisions` row is the lock, so two
 * reviewers cannot both approve); the decision is recorded on the result in its one shape (`outputs.reply.review`,
 * `.delivery`); approved replies are handed to the reply-back service; the updated result is re-published on
 * response-events.
 */
export class ReplyApprovals {
  private readonly outbox: Outbox;

  constructor(private readonly d: ApprovalDeps) {
    this.outbox = d.outbox ?? new Outbox(d.store.db, d.bus, { owner: `approvals-${Bun.randomUUIDv7()}` }, d.log);
  }

  /** The current result of a message (404 when unknown). */
  async get(messageId: string): Promise<ResultEvent> {
    const ev = (await this.d.store.loadEvents([messageId])).get(messageId);
    if (!ev) throw new AppError("not_found", `no result for message ${messageId}`, { status: 404 });
    return ev;
  }

  /** Decides on a message's draft; 404 unknown message, 409 no draft or already decided, 422 invalid text or reason. */
  async decide(messageId: string, action: ReviewAction, by: Reviewer, body: { text?: string; reason?: string } = {}): Promise<ResultEvent> {
    if (!REVIEW_ACTIONS.includes(action)) throw new AppError("invalid_decision", "action must be approve, edit or reject", { status: 422 });
    const ev = await this.get(messageId);
    const reply = outputOf(ev.outputs, "reply");
    if (!reply) throw new AppError("no_draft", "this message has no drafted reply", { status: 409 });
    if (reply.status !== "draft") throw new AppError("already_decided", `the reply is ${reply.status}, only a draft can be ${DECISION_OF[action]}`, { status: 409 });
    const max = this.d.maxTextChars ?? 20_000;
    const edited = action === "edit" ? (body.text ?? "").trim() : null;
    if (action === "edit" && (!edited || edited.length > max)) throw new AppError("invalid_text", `edited text must be 1..${max} characters`, { status: 422 });
    const reason = body.reason?.trim() || null;
    if (action === "reject" && !reason) throw new AppError("reason_required", "a reason is required to reject a draft", { status: 422 });
    if (reason && reason.length > REASON_MAX_CHARS) throw new AppError("invalid_reason", `a reason is at most ${REASON_MAX_CHARS} characters`, { status: 422 });

    const at = new Date().toISOString();
    const finalText = edited ?? reply.text;
    const db = this.d.store.db;
    const next: Record<string, unknown> = {
      ...reply,
      status: action === "reject" ? "rejected" : "approved",
      edited: action === "edit",
      ...(edited ? { text: edited, annotated: edited, draft_text: reply.text } : {}),
      review: { action: DECISION_OF[action], by: by.label, at, ...(reason ? { reason } : {}) } satisfies ReplyReview,
    };
    const send = action !== "reject" && !!this.d.handoff;
    if (action !== "reject") next.delivery = this.d.handoff ? { status: "queued" } : { status: "not_configured" };
    const event = (reply: Record<string, unknown>): ResultEvent => ({ ...ev, outputs: { ...ev.outputs, reply } });
    const record = (reply: Record<string, unknown>) => ({ key: ev.conversation_id, value: JSON.stringify(event(reply)), headers: { "message-id": messageId, "reply-review": DECISION_OF[action] } });
    // The decision (the lock: one per message, whoever makes it, this API or the dashboard), the updated result
    // and its event (which also tells the reply sweeper to send it if this process dies before the hand-off) are
    // written together, so a crash or a bus outage cannot leave a decision that is never published or sent.
    const ids = await db.transaction(async (tx) => {
      const claimed = await tx
        .insert(replyDecisions)
        .values({ messageId, conversationId: ev.conversation_id, action: DECISION_OF[action], draftText: reply.text, finalText: action === "reject" ? null : finalText, reason, userId: by.userId ?? null })
        .onConflictDoNothing()
        .returning({ id: replyDecisions.messageId });
      if (claimed.length === 0) throw new AppError("already_decided", "the draft was decided by someone else meanwhile", { status: 409 });
      await tx.update(results).set({ outputs: sql`jsonb_set(${results.outputs}, '{reply}', ${JSON.stringify(next)}::jsonb)` }).where(eq(results.messageId, messageId));
      return this.outbox.enqueue(tx as unknown as typeof db, [{ topic: this.d.responsesTopic, record: record(next), ...(send ? { replyMessageId: messageId } : {}) }]);
    });

    if (action !== "reject") {
      if (this.d.handoff) {
        try {
          const r = await this.d.handoff.send({ messageId, text: finalText, approvedBy: by.label, approvedAt: new Date(at), idempotencyKey: `${messageId}:reply` });
          next.delivery = { id: r.id, status: r.status };
        } catch (e) {
          const ae = toAppError(e);
          next.delivery = { status: "handoff_failed", code: ae.code, message: ae.message };
          this.d.log.error({ component: "approval", code: ae.code, msg_id: messageId }, "approved reply not handed to its channel; the reply sweeper retries");
        }
        await this.settle(ids, messageId, next, record(next), next.delivery as { status: string }).catch((e) =>
          this.d.log.warn({ component: "approval", code: toAppError(e).code, msg_id: messageId }, "delivery status not recorded; the reply sweeper settles it"),
        );
      }
      await this.remember(ev.conversation_id, messageId, finalText, at);
    }
    await this.outbox.flush(ids);
    this.d.log.info({ component: "approval", msg_id: messageId, action: DECISION_OF[action] }, "draft decided");
    return event(next);
  }

  /**
   * After the hand-off: stores the delivery status on the result and in the not-yet-published event, and tells the
   * sweeper the reply is handled (unless the hand-off failed before the reply was recorded: the sweeper retries it).
   */
  private async settle(ids: number[], messageId: string, next: Record<string, unknown>, rec: { value: string }, delivery: { status: string }): Promise<void> {
    const db = this.d.store.db;
    await db.transaction(async (tx) => {
      await tx.update(results).set({ outputs: sql`jsonb_set(${results.outputs}, '{reply,delivery}', ${JSON.stringify(next.delivery)}::jsonb)` }).where(eq(results.messageId, messageId));
      await tx.update(outbox).set({ value: rec.value }).where(and(inArray(outbox.id, ids), isNull(outbox.publishedAt)));
    });
    if (delivery.status !== "handoff_failed") await this.outbox.replyDone({ ids });
  }

  /** Puts the sent text in the conversation memory so the next draft knows what the customer was told. */
  private async remember(conversationId: string, messageId: string, text: string, at: string): Promise<void> {
    if (!this.d.sessions) return;
    try {
      const s = await this.d.sessions.get(conversationId);
      const log = logReply(replyMemoryOf(s.state).reply_log, { message_id: messageId, text, status: "approved", at });
      await this.d.sessions.setState(conversationId, { reply_log: log });
    } catch (e) {
      this.d.log.warn({ component: "approval", code: toAppError(e).code }, "approved reply not added to session memory");
    }
  }
}
