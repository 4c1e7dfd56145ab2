import type { ResultEvent } from "../agents/types.ts";
import type { EventBus, Subscription } from "../bus/interface.ts";
import type { Logger } from "../obs/log.ts";

/** Receives a result event. */
export type ResultListener = (event: ResultEvent) => void;

/**
 * Fans response-events out to in-process listeners (chat sockets by conversation, the dashboard for all).
 * Every process runs its own consumer group starting at the end, so each API replica sees every event.
 */
export class ResultHub {
  private readonly byConversation = new Map<string, Set<ResultListener>>();
  private readonly all = new Set<ResultListener>();
  private sub: Subscription | null = null;

  constructor(private readonly bus: EventBus, private readonly topic: string, private readonly groupId: string, private readonly log: Logger) {}

  async start(): Promise<void> {
    this.sub = await this.bus.subscribe({
      groupId: this.groupId,
      topics: [this.topic],
      fromBeginning: false,
      handler: async (records) => {
        for (const r of records) {
          let ev: ResultEvent;
          try {
            ev = JSON.parse(r.value) as ResultEvent;
          } catch {
            this.log.warn({ component: "hub", offset: r.offset }, "unparseable response event skipped");
            continue;
          }
          this.dispatch(ev);
        }
      },
    });
  }

  /** Delivers an event to its conversation's listeners and to the global ones; a throwing listener is isolated. */
  dispatch(ev: ResultEvent): void {
    const targets = [...(this.byConversation.get(ev.conversation_id) ?? []), ...this.all];
    for (const l of targets) {
      try {
        l(ev);
      } catch (e) {
        this.log.warn({ component: "hub", err: (e as Error).message }, "listener failed");
      }
    }
  }

  /** Listens to one conversation; returns the unsubscribe function. */
  onConversation(conversationId: string, l: ResultListener): () => void {
    let set = this.byConversation.get(conversationId);
    if (!set) this.byConversation.set(conversationId, (set = new Set()));
    set.add(l);
    return () => {
      set!.delete(l);
      if (set!.size === 0) this.byConversation.delete(conversationId);
    };
  }

  /** Listens to every result; returns the unsubscribe function. */
  onAny(l: ResultListener): () => void {
    this.all.add(l);
    return () => this.all.delete(l);
  }

  async stop(): Promise<void> {
    const s = this.sub;
    this.sub = null;
    if (s) await s.stop();
  }
}
