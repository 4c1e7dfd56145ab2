import { AppError } from "../../errors.ts";
import type { ReplyRow } from "../store.ts";

/** The customer message a reply answers, as persisted by the master (or handed over by the caller). */
export interface OriginalMessage {
  id: string;
  source: "email" | "chat" | "social";
  conversationId: string;
  user: { id: string; name?: string | null; email?: string | null };
  metadata: Record<string, unknown>;
}

/**
 * Sends replies on one channel. `recipient` freezes everything a send needs into the reply row when it is
 * created, so a retry (possibly in another process) needs nothing but the row.
 */
export interface ReplyDeliverer {
  readonly channel: OriginalMessage["source"];
  recipient(original: OriginalMessage): Record<string, unknown>;
  deliver(reply: ReplyRow): Promise<{ externalId: string | null }>;
}

/**
 * A failed send, classified: `retriable` when trying again can help, and `maybeSent` when the far side may have
 * taken the reply before the failure (a dropped connection after the body went out): those are never resent
 * automatically, because sending twice to a customer is worse than asking a person to check.
 */
export class DeliveryError extends AppError {
  readonly maybeSent: boolean;
  constructor(code: string, message: string, opts: { retriable: boolean; maybeSent?: boolean; cause?: unknown }) {
    super(code, message, { status: 502, retriable: opts.retriable, cause: opts.cause });
    this.maybeSent = opts.maybeSent ?? false;
  }
}

/** Event published on response-events when a chat reply is sent (its contract is in src/schema/events.ts). */
export type { ReplySentEvent } from "../../schema/events.ts";
