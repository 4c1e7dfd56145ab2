import type { Logger } from "../obs/log.ts";

/**
 * In-process fan-out of events to listeners of one conversation (chat sockets) and to listeners of all (dashboards).
 * A throwing listener is isolated and logged; it never stops delivery to the others.
 */
export class ConversationFanout<E extends { conversation_id: string }> {
  private readonly byConversation = new Map<string, Set<(ev: E) => void>>();
  private readonly all = new Set<(ev: E) => void>();

  constructor(private readonly log?: Logger, private readonly component = "fanout") {}

  /** Delivers an event to its conversation's listeners, then to the global ones. */
  publish(ev: E): void {
    for (const l of [...(this.byConversation.get(ev.conversation_id) ?? []), ...this.all]) {
      try {
        l(ev);
      } catch (e) {
        this.log?.warn({ component: this.component, err: (e as Error).message }, "listener failed");
      }
    }
  }

  /** Listens to one conversation; returns the unsubscribe function. */
  onConversation(conversationId: string, l: (ev: E) => void): () => void {
    let set = this.byConversation.get(conversationId);
    if (!set) this.byConversation.set(conversationId, (set = new Set()));
    set.add(l);
    return () => {
      set!.delete(l);
      if (set!.size === 0) this.byConversation.delete(conversationId);
    };
  }

  /** Listens to every event; returns the unsubscribe function. */
  onAny(l: (ev: E) => void): () => void {
    this.all.add(l);
    return () => this.all.delete(l);
  }
}
