import type { EventBus, Subscription } from "../bus/interface.ts";
import type { Logger } from "../obs/log.ts";
import { checkContract, checks, outputOf, type ConversationEvent } from "../schema/events.ts";
import { ConversationFanout } from "./fanout.ts";
import { tailJson } from "../bus/tail.ts";

/** Receives an event of response-events (a result, re-published or not, or a reply.sent). */
export type ResultListener = (event: ConversationEvent) => void;

/**
 * What makes two events on response-events the same event: the message, its revision, and the decision it carries.
 * Events are published at least once (a relay that dies between publishing and marking re-publishes), so the hub
 * drops a repeat it has already dispatched.
 */
export function eventIdentity(ev: ConversationEvent): string {
  if (ev.type === "reply.sent") return `s:${ev.reply_id}`;
  const reply = outputOf(ev.outputs, "reply");
  return `r:${ev.message_id}:${ev.revision ?? 0}:${reply?.review?.action ?? ""}:${reply?.delivery?.status ?? ""}`;
}

/**
 * Fans response-events out to in-process listeners (chat sockets by conversation, the dashboard for all).
 * Every process runs its own consumer group starting at the end, so each API replica sees every event; repeats of
 * an event already dispatched (at-least-once publishing) are dropped.
 */
export class ResultHub {
  private readonly fanout: ConversationFanout<ConversationEvent>;
  private sub: (Subscription & { invalid(): number }) | null = null;
  private readonly seen = new Set<string>();
  private static readonly REMEMBER = 20_000;

  constructor(private readonly bus: EventBus, private readonly topic: string, private readonly groupId: string, private readonly log: Logger) {
    this.fanout = new ConversationFanout<ConversationEvent>(log, "hub");
  }

  async start(): Promise<void> {
    this.sub = await tailJson(this.bus, this.topic, this.groupId, (v) => checkContract(checks.responseEvent, v, "response event"), (ev) => {
      // Privacy announcements share the topic but belong to no conversation (the knowledge index consumes them).
      if (ev.type !== "privacy.erase" && ev.type !== "privacy.purge") this.dispatch(ev);
    }, this.log, "hub");
  }

  /** Records skipped because they broke the response-events contract (or were not JSON). */
  get invalid(): number {
    return this.sub?.invalid() ?? 0;
  }

  /** Delivers an event to its conversation's listeners and to the global ones; a throwing listener is isolated. */
  dispatch(ev: ConversationEvent): void {
    const key = eventIdentity(ev);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    // Sets iterate in insertion order: the oldest key goes first.
    if (this.seen.size > ResultHub.REMEMBER) this.seen.delete(this.seen.values().next().value!);
    this.fanout.publish(ev);
  }

  /** Listens to one conversation; returns the unsubscribe function. */
  onConversation(conversationId: string, l: ResultListener): () => void {
    return this.fanout.onConversation(conversationId, l);
  }

  /** Listens to every result; returns the unsubscribe function. */
  onAny(l: ResultListener): () => void {
    return this.fanout.onAny(l);
  }

  async stop(): Promise<void> {
    const s = this.sub;
    this.sub = null;
    if (s) await s.stop();
  }
}
