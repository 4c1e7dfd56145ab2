import type { ResultEvent } from "../agents/types.ts";
import type { EventBus, Subscription } from "../bus/interface.ts";
import type { Logger } from "../obs/log.ts";
import { ConversationFanout } from "./fanout.ts";
import { tailJson } from "../bus/tail.ts";

/** Receives a result event. */
export type ResultListener = (event: ResultEvent) => void;

/**
 * Fans response-events out to in-process listeners (chat sockets by conversation, the dashboard for all).
 * Every process runs its own consumer group starting at the end, so each API replica sees every event.
 */
export class ResultHub {
  private readonly fanout: ConversationFanout<ResultEvent>;
  private sub: Subscription | null = null;

  constructor(private readonly bus: EventBus, private readonly topic: string, private readonly groupId: string, private readonly log: Logger) {
    this.fanout = new ConversationFanout<ResultEvent>(log, "hub");
  }

  async start(): Promise<void> {
    this.sub = await tailJson<ResultEvent>(this.bus, this.topic, this.groupId, (ev) => this.dispatch(ev), this.log, "hub");
  }

  /** Delivers an event to its conversation's listeners and to the global ones; a throwing listener is isolated. */
  dispatch(ev: ResultEvent): void {
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
