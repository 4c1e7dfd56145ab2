import type { EventBus, Subscription } from "../../bus/interface.ts";
import { tailJson } from "../../bus/tail.ts";
import type { Logger } from "../../obs/log.ts";
import { checkContract, checks } from "../../schema/events.ts";
import { conversationIdOf } from "../../schema/message.ts";

/** A running draft's handle: its signal aborts when a newer message of the same conversation is seen. */
export interface DraftTicket {
  signal: AbortSignal;
  /** Id of the newer message once superseded. */
  supersededBy(): string | null;
  done(): void;
}

/**
 * Cancels a draft when a newer customer message arrives in the same conversation: the customer has moved on and
 * the next draft (which sees both messages in its history) replaces it. Messages are compared by received_at.
 * The newest message per conversation is remembered (bounded), so a draft whose message is already outdated when
 * it starts is cancelled before any token is spent.
 */
export class SupersedeRegistry {
  private readonly latest = new Map<string, { id: string; at: number }>();
  private readonly running = new Map<string, { id: string; at: number; ac: AbortController; by: string | null }>();

  constructor(private readonly maxConversations = 50_000) {}

  /** Records that a message was accepted for a conversation; aborts an older running draft. */
  seen(conversationId: string, messageId: string, receivedAt: string): void {
    const at = Date.parse(receivedAt);
    if (!Number.isFinite(at)) return;
    const cur = this.latest.get(conversationId);
    if (!cur || at > cur.at || (at === cur.at && messageId !== cur.id && messageId > cur.id)) {
      this.latest.delete(conversationId);
      this.latest.set(conversationId, { id: messageId, at });
      if (this.latest.size > this.maxConversations) this.latest.delete(this.latest.keys().next().value!);
    }
    const run = this.running.get(conversationId);
    if (run && run.id !== messageId && (at > run.at || (at === run.at && messageId > run.id))) {
      run.by = messageId;
      run.ac.abort();
    }
  }

  /** Starts a draft; the returned signal is already aborted when a newer message is known. */
  begin(conversationId: string, messageId: string, receivedAt: string): DraftTicket {
    const at = Date.parse(receivedAt);
    const ac = new AbortController();
    const entry = { id: messageId, at, ac, by: null as string | null };
    const other = this.running.get(conversationId);
    if (other && (other.at < at || (other.at === at && other.id < messageId))) {
      other.by = messageId;
      other.ac.abort();
    }
    if (!other || other.by) this.running.set(conversationId, entry);
    const newest = this.latest.get(conversationId);
    if (newest && newest.id !== messageId && (newest.at > at || (newest.at === at && newest.id > messageId))) {
      entry.by = newest.id;
      ac.abort();
    }
    this.seen(conversationId, messageId, receivedAt);
    return {
      signal: ac.signal,
      supersededBy: () => entry.by,
      done: () => {
        if (this.running.get(conversationId) === entry) this.running.delete(conversationId);
      },
    };
  }
}

/**
 * Watches customer-messages with its own consumer group (from the end) and feeds the registry, so a message that
 * is still queued behind the current draft in the master's partition already cancels that draft.
 */
export function watchNewMessages(bus: EventBus, topic: string, groupId: string, registry: SupersedeRegistry, log: Logger): Promise<Subscription> {
  // Only the fields the registry reads are checked: the master validates the whole message against the configured limits.
  const check = (v: unknown) => checkContract(checks.messageHeader, v, "customer message");
  return tailJson(bus, topic, groupId, check, (m) => registry.seen(conversationIdOf(m), m.id, m.metadata.received_at), log, "supersede");
}
