import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { Transporter } from "nodemailer";
import type { EventBus } from "../../bus/interface.ts";
import { AppError } from "../../errors.ts";
import type { ChannelStore, ReplyRow } from "../store.ts";
import type { SocialReplier, SocialReplyTarget } from "../social/types.ts";
import { DeliveryError, type OriginalMessage, type ReplyDeliverer, type ReplySentEvent } from "./types.ts";

/** SMTP settings for email replies. */
export interface SmtpOptions {
  from: string;
  /** Domain of the Message-IDs the copilot mints (defaults to the From domain). */
  messageIdDomain?: string;
}

/** What an email reply row freezes at creation (read back through this check, not cast). */
const EmailRecipientSchema = Type.Object({ to: Type.String(), subject: Type.String(), in_reply_to: Type.Union([Type.String(), Type.Null()]), references: Type.Array(Type.String()) });
type EmailRecipient = Static<typeof EmailRecipientSchema>;
/** What a social reply row freezes at creation (src/channels/social/types.ts SocialReplyTarget). */
const SocialTargetSchema = Type.Object({ network: Type.String(), kind: Type.String(), postId: Type.String(), thread: Type.String(), authorId: Type.String() });
/** Email threading facts the email producer stores under metadata.email. */
const EmailMetaSchema = Type.Object({ message_id: Type.Optional(Type.String()), references: Type.Optional(Type.Array(Type.String())), subject: Type.Optional(Type.String()), message_id_synthesized: Type.Optional(Type.Boolean()) });
/** Where a social message came from, stored by the social producers under metadata.social. */
const SocialMetaSchema = Type.Object({ network: Type.Optional(Type.String()), kind: Type.Optional(Type.String()), post_id: Type.Optional(Type.String()), thread_id: Type.Optional(Type.String()), author_id: Type.Optional(Type.String()), webhook_source: Type.Optional(Type.String()) });

/** A stored recipient that breaks its shape cannot be sent (a person must look), so it is not retried. */
function recipientOf<T extends TSchema>(schema: T, reply: ReplyRow): Static<T> {
  if (Value.Check(schema, reply.recipient)) return reply.recipient;
  throw new DeliveryError("bad_recipient", `reply ${reply.id} has a malformed ${reply.channel} recipient`, { retriable: false });
}

/** `Re: <subject>` without stacking prefixes. */
export function replySubject(subject: string): string {
  const s = subject.trim();
  if (!s) return "Re: your message";
  return /^(re|aw|sv|antw)\s*:/i.test(s) ? s : `Re: ${s}`;
}

/**
 * Email replies over SMTP (nodemailer): threaded with `In-Reply-To` and `References`, subject `Re: …`, and a
 * Message-ID minted from the reply id so a retry carries the same id. The outbound Message-ID is recorded before
 * sending so the customer's answer to it joins the same conversation.
 */
export class EmailDeliverer implements ReplyDeliverer {
  readonly channel = "email" as const;
  private readonly domain: string;
  constructor(private readonly transport: Transporter, private readonly o: SmtpOptions, private readonly store: ChannelStore) {
    this.domain = o.messageIdDomain ?? (o.from.match(/@([^>\s]+)>?\s*$/)?.[1] ?? "copilot.invalid");
  }

  recipient(original: OriginalMessage): Record<string, unknown> {
    const raw = original.metadata.email ?? {};
    const email = Value.Check(EmailMetaSchema, raw) ? raw : {};
    const to = original.user.email;
    if (!to) throw new AppError("no_recipient", "the original email has no usable sender address", { status: 422 });
    const mid = email.message_id && !email.message_id_synthesized ? email.message_id : null;
    const r: EmailRecipient = {
      to,
      subject: replySubject(email.subject ?? ""),
      in_reply_to: mid,
      references: [...(email.references ?? []), ...(mid ? [mid] : [])].slice(-20),
    };
    return { ...r };
  }

  async deliver(reply: ReplyRow): Promise<{ externalId: string | null }> {
    const r = recipientOf(EmailRecipientSchema, reply);
    const messageId = `reply-${reply.id}@${this.domain}`;
    await this.store.recordEmails([{ messageIdHeader: messageId, conversationId: reply.conversationId, direction: "outbound", copilotMessageId: reply.messageId, status: "sent" }]);
    try {
      await this.transport.sendMail({
        from: this.o.from,
        to: r.to,
        subject: r.subject,
        text: reply.text,
        messageId: `<${messageId}>`,
        ...(r.in_reply_to ? { inReplyTo: `<${r.in_reply_to}>` } : {}),
        ...(r.references.length ? { references: r.references.map((x) => `<${x}>`) } : {}),
        headers: reply.approvedBy === "auto" ? { "Auto-Submitted": "auto-replied" } : {},
      });
    } catch (e) {
      throw classifySmtp(e);
    }
    return { externalId: messageId };
  }
}

/**
 * SMTP failures: a reply code means the server refused (4xx: try later; 5xx: never); a failure before the message
 * body was handed over means nothing was sent; losing the connection during or after DATA leaves it unknown.
 */
export function classifySmtp(e: unknown): DeliveryError {
  const err = e as { code?: string; responseCode?: number; command?: string; message?: string };
  const msg = `SMTP: ${err.message ?? String(e)}`;
  if (typeof err.responseCode === "number") {
    return new DeliveryError(err.responseCode >= 500 ? "smtp_rejected" : "smtp_deferred", msg, { retriable: err.responseCode < 500, cause: e });
  }
  if (err.code === "EAUTH" || err.code === "EENVELOPE" || err.code === "EMESSAGE") return new DeliveryError("smtp_refused", msg, { retriable: false, cause: e });
  const beforeData = err.command === "CONN" || err.code === "ECONNECTION" || err.code === "EDNS" || err.code === "ETLS" || (err.command !== undefined && err.command !== "DATA" && err.command !== "API");
  return new DeliveryError("smtp_failed", msg, { retriable: true, maybeSent: !beforeData, cause: e });
}

/**
 * Chat replies: a `reply.sent` event on response-events, keyed by conversation; each API replica's hub hands it
 * to the customer's socket (customerView renders it). Publishing is the delivery the service can confirm.
 */
export class ChatDeliverer implements ReplyDeliverer {
  readonly channel = "chat" as const;
  constructor(private readonly bus: EventBus, private readonly topic: string) {}

  recipient(original: OriginalMessage): Record<string, unknown> {
    return { conversation_id: original.conversationId };
  }

  async deliver(reply: ReplyRow): Promise<{ externalId: string | null }> {
    const ev: ReplySentEvent = { type: "reply.sent", reply_id: reply.id, message_id: reply.messageId, conversation_id: reply.conversationId, channel: "chat", text: reply.text, sent_at: new Date().toISOString() };
    try {
      await this.bus.publish(this.topic, [{ key: reply.conversationId, value: JSON.stringify(ev), headers: { type: "reply.sent" } }]);
    } catch (e) {
      // The widget shows a reply once per reply_id, so a repeated event is harmless: retry.
      throw new DeliveryError("bus_unavailable", `chat reply not published: ${(e as Error).message}`, { retriable: true, cause: e });
    }
    return { externalId: null };
  }
}

/** Social replies through the adapter of the item's network (X, a webhook tool...). */
export class SocialDeliverer implements ReplyDeliverer {
  readonly channel = "social" as const;
  private readonly repliers: Map<string, SocialReplier>;
  constructor(repliers: SocialReplier[]) {
    this.repliers = new Map(repliers.map((r) => [r.network, r]));
  }

  recipient(original: OriginalMessage): Record<string, unknown> {
    const raw = original.metadata.social ?? {};
    const s = Value.Check(SocialMetaSchema, raw) ? raw : {};
    if (!s.network || !s.post_id) throw new AppError("no_recipient", "the original social message names no network or post", { status: 422 });
    const network = s.webhook_source && !this.repliers.has(s.network) ? s.webhook_source : s.network;
    if (!this.repliers.has(network)) throw new AppError("channel_unavailable", `no reply adapter for network ${network}`, { status: 422 });
    const t: SocialReplyTarget = { network, kind: s.kind ?? "post", postId: s.post_id, thread: s.thread_id ?? s.post_id, authorId: s.author_id ?? "" };
    return { ...t };
  }

  async deliver(reply: ReplyRow): Promise<{ externalId: string | null }> {
    const t: SocialReplyTarget = recipientOf(SocialTargetSchema, reply);
    const r = this.repliers.get(t.network);
    if (!r) throw new DeliveryError("channel_unavailable", `no reply adapter for network ${t.network}`, { retriable: false });
    try {
      return await r.reply(t, reply.text, reply.idempotencyKey);
    } catch (e) {
      if (e instanceof DeliveryError) throw e;
      const app = e instanceof AppError ? e : null;
      const maybeSent = !!(app?.details as { maybe_sent?: boolean } | undefined)?.maybe_sent;
      throw new DeliveryError(app?.code ?? "social_failed", (e as Error).message, { retriable: app ? app.retriable : true, maybeSent, cause: e });
    }
  }
}
