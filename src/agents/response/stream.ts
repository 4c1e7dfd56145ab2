import type { EventBus, Subscription } from "../../bus/interface.ts";
import type { Logger } from "../../obs/log.ts";
import { checkContract, checks, type ReplyStreamEvent } from "../../schema/events.ts";
import { ConversationFanout } from "../../realtime/fanout.ts";
import { tailJson } from "../../bus/tail.ts";

export type { ReplyStreamEvent };

/** Receives reply stream events. */
export type ReplyStreamListener = (ev: ReplyStreamEvent) => void;

/** Where the response agent publishes its stream. */
export interface ReplyStream {
  publish(ev: ReplyStreamEvent): void;
}

/**
 * In-process fan-out of reply stream events, by conversation (chat sockets) and for all (dashboard).
 */
export class ReplyStreamHub extends ConversationFanout<ReplyStreamEvent> implements ReplyStream {
  constructor(log?: Logger) {
    super(log, "reply-stream");
  }
}

/**
 * Carries the stream between processes (a `worker` drafting, an `api` replica holding the sockets) over a bus
 * topic keyed by conversation. Deltas are coalesced for `flushMs` so a token stream costs a few records a second.
 */
export class BusReplyStream implements ReplyStream {
  private buffer = new Map<string, Extract<ReplyStreamEvent, { type: "reply.delta" }>>();
  private queue: ReplyStreamEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly bus: EventBus, private readonly topic: string, private readonly log: Logger, private readonly flushMs = 50) {}

  publish(ev: ReplyStreamEvent): void {
    if (ev.type === "reply.delta") {
      const prev = this.buffer.get(ev.message_id);
      if (prev) prev.text += ev.text;
      else {
        const copy = { ...ev };
        this.buffer.set(ev.message_id, copy);
        this.queue.push(copy);
      }
    } else {
      this.buffer.delete(ev.message_id);
      this.queue.push(ev);
    }
    if (ev.type !== "reply.delta") this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  /** Sends what is queued, in order; resolves once it is on the bus. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.queue;
    this.queue = [];
    this.buffer = new Map();
    if (batch.length === 0) return this.chain;
    this.chain = this.chain
      .then(() => this.bus.publish(this.topic, batch.map((e) => ({ key: e.conversation_id, value: JSON.stringify(e) }))))
      .catch((e) => this.log.warn({ component: "reply-stream", err: (e as Error).message }, "stream events dropped"));
    return this.chain;
  }
}

/** Relays the stream topic into an in-process hub (every API replica uses its own group, from the end). */
export function relayReplyStream(bus: EventBus, topic: string, groupId: string, hub: ReplyStreamHub, log: Logger): Promise<Subscription> {
  return tailJson(bus, topic, groupId, (v) => checkContract(checks.replyStreamEvent, v, "reply stream event"), (ev) => hub.publish(ev), log, "reply-stream");
}
