import { AppError } from "../../errors.ts";
import type { Logger } from "../../obs/log.ts";
import { objectOf, outputOf, reviewOf, sourceOf, type ConversationEvent } from "../../schema/events.ts";
import { backoffMs } from "../ids.ts";
import type { ChannelStore, ReplyRow } from "../store.ts";
import { DeliveryError, type OriginalMessage, type ReplyDeliverer } from "./types.ts";

/** A request to answer one customer message. */
export interface ReplyRequest {
  /** The customer message being answered. */
  messageId: string;
  text: string;
  /** Who approved it: a dashboard user, or `auto` for policy-approved auto-sends. */
  approvedBy: string;
  approvedAt?: Date;
  /** Same key, same reply: a repeated request returns the first one instead of sending again. Default `<messageId>:reply`. */
  idempotencyKey?: string;
  /** The original message when the caller has it; otherwise it is loaded from the messages table. */
  original?: OriginalMessage;
}

/** Options of the reply service. */
export interface ReplyServiceOptions {
  maxAttempts: number;
  backoff: { baseMs: number; maxMs: number };
  /** How often the retry loop looks for due replies. */
  retryIntervalMs: number;
  /** A reply left `sending` longer than this by a crashed process becomes `unknown`. */
  staleSendingMs: number;
}

/** Reply states: pending → sending → sent | retry → … | failed | unknown (may have been sent: a person checks). */
export type ReplyStatus = "pending" | "sending" | "sent" | "retry" | "failed" | "unknown";

/**
 * The outbound reply service: records every reply (who approved it, when, channel, recipient, status) in
 * Postgres before anything is sent, sends it on the channel the message came from, retries transient failures
 * with backoff, and never sends twice: one row per idempotency key, and an atomic claim before each attempt.
 */
export class ReplyService {
  private readonly deliverers: Map<string, ReplyDeliverer>;
  private readonly log: Logger;
  private timer: ReturnType<typeof setInterval> | null = null;
  private sweeping: Promise<void> | null = null;

  constructor(private readonly store: ChannelStore, deliverers: ReplyDeliverer[], private readonly o: ReplyServiceOptions, log: Logger) {
    this.deliverers = new Map(deliverers.map((d) => [d.channel, d]));
    this.log = log.child({ component: "replies" });
  }

  /** Records and sends a reply; returns the stored row after the first attempt (or the existing row for a known key). */
  async send(req: ReplyRequest): Promise<ReplyRow> {
    const text = req.text.trim();
    if (!text) throw new AppError("empty_reply", "reply text is empty", { status: 422 });
    if (!req.approvedBy) throw new AppError("unapproved", "a reply needs an approver (a user, or `auto`)", { status: 422 });
    const key = req.idempotencyKey ?? `${req.messageId}:reply`;
    const known = await this.store.replyByKey(key);
    if (known) return known;
    const original = req.original ?? (await this.loadOriginal(req.messageId));
    const deliverer = this.deliverers.get(original.source);
    let recipient: Record<string, unknown> = {};
    let problem: string | null = deliverer ? null : `no ${original.source} reply channel is configured`;
    if (req.approvedBy === "auto" && objectOf(original.metadata.email).auto_submitted === true) {
      problem = "not sent automatically: the customer's mail was itself automatic (mail loop protection)";
    }
    if (deliverer) {
      try {
        recipient = deliverer.recipient(original);
      } catch (e) {
        problem = (e as Error).message;
      }
    }
    const { row, created } = await this.store.createReply({
      id: Bun.randomUUIDv7(),
      idempotencyKey: key,
      messageId: original.id,
      conversationId: original.conversationId,
      channel: original.source,
      recipient,
      text,
      approvedBy: req.approvedBy,
      approvedAt: req.approvedAt ?? new Date(),
      status: problem ? "failed" : "pending",
      lastError: problem,
    });
    if (!created) return row;
    if (problem) {
      this.log.warn({ reply: row.id, channel: row.channel, err: problem }, "reply cannot be sent");
      return row;
    }
    return this.attempt(row.id);
  }

  /**
   * Records a reply that already reached the customer by another path (a chat auto-reply inside the result
   * event), so the audit trail has every outbound reply.
   */
  async recordDelivered(req: ReplyRequest & { original: OriginalMessage; via: string }): Promise<ReplyRow> {
    const key = req.idempotencyKey ?? `${req.messageId}:reply`;
    const { row } = await this.store.createReply({
      id: Bun.randomUUIDv7(),
      idempotencyKey: key,
      messageId: req.original.id,
      conversationId: req.original.conversationId,
      channel: req.original.source,
      recipient: { via: req.via },
      text: req.text,
      approvedBy: req.approvedBy,
      approvedAt: req.approvedAt ?? new Date(),
      status: "sent",
      attempts: 1,
      externalId: req.via,
      sentAt: new Date(),
    });
    return row;
  }

  /** One delivery attempt, if this caller wins the claim; otherwise the current row. */
  async attempt(id: string): Promise<ReplyRow> {
    const claimed = await this.store.claimReply(id);
    if (!claimed) return (await this.store.replyById(id))!;
    const deliverer = this.deliverers.get(claimed.channel);
    if (!deliverer) return (await this.store.finishReply(id, { status: "failed", lastError: `no ${claimed.channel} reply channel is configured` }))!;
    try {
      const { externalId } = await deliverer.deliver(claimed);
      this.log.info({ reply: id, channel: claimed.channel, attempts: claimed.attempts }, "reply sent");
      return (await this.store.finishReply(id, { status: "sent", sentAt: new Date(), externalId, lastError: null, nextAttemptAt: null }))!;
    } catch (e) {
      const d = e instanceof DeliveryError ? e : new DeliveryError("delivery_failed", (e as Error).message, { retriable: e instanceof AppError ? e.retriable : true, cause: e });
      let status: ReplyStatus;
      let next: Date | null = null;
      if (d.maybeSent) status = "unknown";
      else if (d.retriable && claimed.attempts < this.o.maxAttempts) {
        status = "retry";
        next = new Date(Date.now() + backoffMs(claimed.attempts - 1, this.o.backoff.baseMs, this.o.backoff.maxMs));
      } else status = "failed";
      this.log.warn({ reply: id, channel: claimed.channel, attempts: claimed.attempts, status, code: d.code, err: d.message }, "reply not delivered");
      return (await this.store.finishReply(id, { status, lastError: `${d.code}: ${d.message}`.slice(0, 1000), nextAttemptAt: next }))!;
    }
  }

  /** Retries every due reply once and turns abandoned `sending` rows into `unknown`. */
  async retryDue(): Promise<number> {
    await this.store.abandonStale(new Date(Date.now() - this.o.staleSendingMs));
    const due = await this.store.dueReplies(new Date(Date.now() + 1));
    for (const r of due) await this.attempt(r.id);
    return due.length;
  }

  /**
   * Sends the replies the pipeline auto-sent, as they pass on response-events. Chat replies in those events already
   * reach the customer's socket through the result itself, so for chat they are only recorded. Decided results
   * (`outputs.reply.review`) are handed over by the decision service itself (and swept), not here.
   */
  onResultEvent(raw: ConversationEvent): void {
    if (raw.type !== "message.result" || reviewOf(raw.outputs)) return;
    this.sendApproved(raw, { autoSend: true }).catch((e) => this.log.error({ message_id: raw.message_id, err: (e as Error).message }, "approved reply could not be recorded"));
  }

  /**
   * Sends (or records, for chat) the approved reply a result carries, idempotently by `<messageId>:reply`: an
   * auto-sent result, or a reviewer's approval or edit (`outputs.reply.review`). Returns the reply row, or null when
   * the event carries nothing to send (or auto-send is off).
   */
  async sendApproved(raw: ConversationEvent, o: { autoSend: boolean }): Promise<ReplyRow | null> {
    if (raw.type !== "message.result") return null;
    const reply = outputOf(raw.outputs, "reply");
    if (!reply?.text) return null;
    const review = reply.review ?? null;
    const approved = review ? review.action === "approved" || review.action === "edited" : reply.status === "auto_sent" && o.autoSend;
    if (!approved) return null;
    const req = { messageId: raw.message_id, text: reply.text, approvedBy: review ? review.by || "unknown" : "auto", approvedAt: review ? new Date(review.at) : new Date(raw.processed_at) };
    // The approval flow sends chat replies through the chat deliverer like any other channel; the other paths
    // reach the customer's socket through the result event itself.
    if (raw.source === "chat" && !review) {
      return this.recordDelivered({ ...req, via: "response-events", original: { id: raw.message_id, source: "chat", conversationId: raw.conversation_id, user: raw.user, metadata: {} } });
    }
    return this.send(req);
  }

  /** Starts the retry loop. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.retryDue()
        .then(() => {})
        .catch((e) => this.log.warn({ err: (e as Error).message }, "reply retry sweep failed"))
        .finally(() => (this.sweeping = null));
    }, this.o.retryIntervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sweeping;
  }

  private async loadOriginal(messageId: string): Promise<OriginalMessage> {
    const m = await this.store.loadMessage(messageId);
    if (!m) throw new AppError("unknown_message", `no customer message ${messageId} (it is persisted once the pipeline has processed it)`, { status: 404 });
    const source = sourceOf(m.source);
    if (!source) throw new AppError("unknown_channel", `message ${messageId} has a channel this version cannot answer on`, { status: 422 });
    return {
      id: m.id,
      source,
      conversationId: m.conversationId,
      user: { id: m.customerId, name: m.customerName, email: m.customerEmail },
      metadata: m.metadata,
    };
  }
}
