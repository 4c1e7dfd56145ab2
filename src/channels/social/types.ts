import { AppError } from "../../errors.ts";
import type { IncomingMessage } from "../../ingest/publisher.ts";
import type { Attachment, MessageLimits } from "../../schema/message.ts";
import { stableId } from "../ids.ts";

/** A post, comment or direct message from any network, before it becomes a customer message. */
export interface SocialPost {
  /** Network name as used in ids and config: `x`, `linkedin`, or a webhook source name. */
  network: string;
  /** `mention`, `dm`, `comment`, `post`... (decides how a reply is sent). */
  kind: string;
  /** The network's id of this item; with `network` it names the message for good (stable id, dedupe). */
  id: string;
  author: { id: string; handle?: string; name?: string };
  text: string;
  /** The network's thread: tweet conversation id, DM conversation id, post a comment belongs to. */
  thread: string;
  inReplyTo?: string;
  url?: string;
  createdAt?: string;
  attachments?: Attachment[];
}

/** One poll of a source: new items oldest first, and the cursor to save once they are published. */
export interface PollPage {
  posts: SocialPost[];
  cursor: string | null;
  /** The API said the quota is spent: do not call before this time (epoch ms). */
  waitUntil?: number;
}

/**
 * A network polled on an interval. New networks implement this (or post to the signed webhook) and register
 * with the SocialPoller; nothing in the core changes.
 */
export interface PollingSource {
  /** Unique, stable name; also the checkpoint key (`social:<name>`). */
  readonly name: string;
  readonly intervalMs: number;
  poll(cursor: string | null, signal: AbortSignal): Promise<PollPage>;
}

/** Where a reply to a social item goes (stored with the reply so a retry needs nothing else). */
export interface SocialReplyTarget {
  network: string;
  kind: string;
  postId: string;
  thread: string;
  authorId: string;
}

/** Sends a reply on one network. */
export interface SocialReplier {
  readonly network: string;
  reply(target: SocialReplyTarget, text: string, idempotencyKey: string): Promise<{ externalId: string | null }>;
}

/** The API refused for quota reasons; `resetAt` (epoch ms) is when to try again. */
export class RateLimited extends AppError {
  constructor(readonly resetAt: number, message = "rate limited") {
    super("rate_limited", message, { status: 429, retriable: true });
  }
}

/** The conversation of a social thread. */
export function socialConversationId(network: string, thread: string): string {
  const id = `social:${network}:${thread}`;
  return id.length <= 256 ? id : `social:${network}:${stableId(thread)}`;
}

/** Turns a post into the producer's message: one conversation per network thread, stable id per post. */
export function postToIncoming(p: SocialPost, limits: MessageLimits): IncomingMessage {
  const text = p.text.length > limits.maxTextChars ? p.text.slice(0, limits.maxTextChars) : p.text;
  return {
    id: stableId(`social:${p.network}:${p.id}`),
    source: "social",
    sanitize: true,
    user: { id: `${p.network}:${p.author.id}`.slice(0, 256), ...(p.author.name ? { name: p.author.name.slice(0, 256) } : p.author.handle ? { name: `@${p.author.handle}`.slice(0, 256) } : {}) },
    message: { text, attachments: (p.attachments ?? []).slice(0, limits.maxAttachments) },
    metadata: {
      conversation_id: socialConversationId(p.network, p.thread),
      social: {
        network: p.network,
        kind: p.kind,
        post_id: p.id,
        thread_id: p.thread,
        author_id: p.author.id,
        ...(p.author.handle ? { author_handle: p.author.handle } : {}),
        ...(p.inReplyTo ? { in_reply_to: p.inReplyTo } : {}),
        ...(p.url ? { url: p.url.slice(0, 2048) } : {}),
        ...(p.createdAt ? { created_at: p.createdAt } : {}),
      },
      ...(text.length < p.text.length ? { truncated: true } : {}),
    },
  };
}

/** Compares two numeric id strings (snowflakes exceed 2^53). */
export function compareIds(a: string, b: string): number {
  try {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  } catch {
    return a < b ? -1 : a > b ? 1 : 0;
  }
}
