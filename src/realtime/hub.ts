import type { ResultEvent } from "../agents/types.ts";
import type { EventBus, Subscription } from "../bus/interface.ts";
import type { Logger } from "../obs/log.ts";
import { ConversationFanout } from "./fanout.ts";
import { tailJson } from "../bus/tail.ts";

/** Receives a result event. */
export type ResultListener = (event: ResultEvent) => void;

/**
 * What makes two events on response-events the same event: the message, its revision, and the decision it carries.
 * Events are published at least once (a relay that dies between publishing and marking re-publishes), so the hub
 * drops a repeat it has already dispatched.
 */
export function eventIdentity(ev: ResultEvent): string | null {
  const e = ev as ResultEvent & { decision?: { action?: string }; reply_id?: string };
  if (e.type === "message.result") {
    const reply = e.outputs?.reply as { review?: { action?: string }; delivery?: { status?: string } } | undefined;
    return `r:${e.message_id}:${e.revision ?? 0}:${e.decision?.action ?? reply?.review?.action ?? ""}:${reply?.delivery?.status ?? ""}`;
  }
  return (e as { type?: string }).type === "reply.sent" && e.reply_id ? `s:${e.reply_id}` : null;
}

/**
 * Fans response-events out to in-process listeners (chat sockets by conversation, the dashboard for all).
 * Every process runs its own consumer group starting at the end, so each API replica sees every event; repeats of
 * an event already dispatched (at-least-once publishing) are dropped.
 */
export class ResultHub {
  private readonly fanout: ConversationFanout<ResultEvent>;
  private sub: Subscription | null = null;
  private readonly seen = new Set<string>();
  private static readonly REMEMBER = 20_000;

  constructor(private readonly bus: EventBus, private readonly topic: string, private readonly groupId: string, private readonly log: Logger) {
    this.fanout = new ConversationFanout<ResultEvent>(log, "hub");
  }

  async start(): Promise<void> {
    this.sub = await tailJson<ResultEvent>(this.bus, this.topic, this.groupId, (ev) => this.dispatch(ev), this.log, "hub");
  }

  /** Delivers an event to its conversation's listeners and to the global ones; a throwing listener is isolated. */
  dispatch(ev: ResultEvent): void {
    const key = eventIdentity(ev);
    if (key) {
      if (this.seen.has(key)) return;
      this.seen.add(key);
      // Sets iterate in insertion order: the oldest key goes first.
      if (this.seen.size > ResultHub.REMEMBER) this.seen.delete(this.seen.values().next().value!);
    }
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
