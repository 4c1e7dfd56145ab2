import { AlertToast } from "../../views/insights.tsx";
import { Bubble, Details, Draft, type ThreadEntry } from "../../views/conversation.tsx";
import { FeedPrepend, FeedReplace } from "../../views/feed.tsx";
import type { Logger } from "../obs/log.ts";
import { outputOf, reviewOf, type ReplyReview, type ConversationEvent, type ReplyStreamEvent, type ResultEvent } from "../schema/events.ts";
import type { FiredAlert } from "./alerts.ts";
import type { User } from "./auth.ts";
import { matches, type FeedFilters } from "./filters.ts";
import { feedItemFromEvent } from "./queries.ts";

/**
 * A streamed piece of a drafted reply: the response agent (in the drafting stage, after the result was persisted and
 * published) sends it on the reply-stream topic, and each API replica relays it here (src/agents/response/stream.ts).
 * The dashboard appends it to the draft on screen.
 */
type ReplyDelta = Extract<ReplyStreamEvent, { type: "reply.delta" }>;

/** The decision carried by a re-published result (`outputs.reply.review`, its one shape); null for a fresh result. */
export function decisionOf(ev: ResultEvent): ReplyReview | null {
  return reviewOf(ev.outputs);
}

/** One open dashboard socket: who, and what its page shows (the feed with filters, or one conversation). */
export interface LiveClient {
  user: User;
  feed: FeedFilters | null;
  conversationId: string | null;
  send(html: string): void;
  /** The session behind the socket (hash of its cookie token), re-checked while the socket is open. */
  tokenHash?: string;
  /** Closes the socket (session revoked or user disabled). */
  close?(): void;
}

/** How open sockets are re-checked against their sessions: which of these token hashes are still valid. */
export interface SessionRecheck {
  everyMs: number;
  valid(tokenHashes: string[]): Promise<Set<string>>;
}

const render = (el: JSX.Element): string => (typeof el === "string" ? el : "");

/** Fans result events, draft tokens and alerts out to open dashboards as HTMX out-of-band fragments. */
export class LiveDashboards {
  private readonly clients = new Set<LiveClient>();
  private readonly streaming = new Set<string>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly log: Logger, private readonly recheck: SessionRecheck | null = null) {}

  add(c: LiveClient): () => void {
    this.clients.add(c);
    if (this.recheck && !this.timer) {
      // Sign-out, revocation and disabling may happen on another replica: each replica re-checks its own sockets.
      this.timer = setInterval(() => void this.revalidate(), this.recheck.everyMs);
      this.timer.unref?.();
    }
    return () => {
      this.clients.delete(c);
      if (this.clients.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  /** Closes every socket whose session is no longer valid (ended, expired, or its user disabled). */
  async revalidate(): Promise<number> {
    if (!this.recheck || this.clients.size === 0) return 0;
    const hashes = [...new Set([...this.clients].map((c) => c.tokenHash).filter((h): h is string => !!h))];
    let valid: Set<string>;
    try {
      valid = await this.recheck.valid(hashes);
    } catch (e) {
      this.log.warn({ component: "dashboard-live", err: (e as Error).message }, "session re-check failed");
      return 0;
    }
    return this.closeWhere((c) => !!c.tokenHash && !valid.has(c.tokenHash));
  }

  /** Closes the matching sockets now (this replica's sign-out or disable); returns how many. */
  closeWhere(pred: (c: LiveClient) => boolean): number {
    let n = 0;
    for (const c of [...this.clients]) {
      if (!pred(c)) continue;
      this.clients.delete(c);
      n++;
      try {
        c.close?.();
      } catch {
        /* already closed */
      }
    }
    return n;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Anything that arrives on response-events or the reply stream: results, re-published decisions, reply deltas. */
  onEvent(ev: ConversationEvent | ReplyStreamEvent): void {
    if (ev.type === "reply.delta") {
      this.onDelta(ev);
      return;
    }
    if (ev.type !== "message.result") return;
    const decision = decisionOf(ev);
    const item = feedItemFromEvent(ev, decision?.action ?? null);
    const filterable = { ...item, at: item.processedAt };
    let feedHtml: string | null = null;
    let convHtml: string | null = null;
    for (const c of this.clients) {
      try {
        if (c.feed) {
          // A decision or a later stage's revision updates the row already shown; only a fresh result adds one.
          if (decision || ev.revision) c.send((feedHtml ??= render(FeedReplace({ item }))));
          else if (matches(c.feed, filterable)) c.send((feedHtml ??= render(FeedPrepend({ item }))));
        } else if (c.conversationId === ev.conversation_id) {
          c.send((convHtml ??= this.conversationFragment(ev, decision)));
        }
      } catch (e) {
        this.log.warn({ component: "dashboard-live", err: (e as Error).message }, "live push failed");
      }
    }
  }

  /** Toasts an alert on every open dashboard. */
  onAlert(a: FiredAlert): void {
    const html = render(AlertToast({ a }));
    for (const c of this.clients) c.send(html);
  }

  /**
   * Deltas arrive while the master is still working, before the message is persisted, so the first one opens a
   * "drafting" placeholder in the thread and the following ones append to it; the final result replaces it.
   */
  private onDelta(d: ReplyDelta): void {
    const piece = d.text;
    if (!piece) return;
    const id = escapeId(d.message_id);
    const text = Bun.escapeHTML(piece);
    const first = !this.streaming.has(id);
    if (first) {
      this.streaming.add(id);
      if (this.streaming.size > 1000) this.streaming.delete(this.streaming.values().next().value!);
    }
    const html = first
      ? `<div hx-swap-oob="beforeend:#thread"><li id="pending-${id}" class="bubble-pair pending"><div class="bubble agent drafting"><span class="meta">drafting a reply…</span><pre id="draft-text-${id}" class="draft-text" aria-live="polite">${text}</pre></div></li></div>`
      : `<div hx-swap-oob="beforeend:#draft-text-${id}">${text}</div>`;
    for (const c of this.clients) if (c.conversationId === d.conversation_id) c.send(html);
  }

  private conversationFragment(ev: ResultEvent, decision: ReplyReview | null): string {
    const entry: ThreadEntry = {
      id: ev.message_id,
      conversationId: ev.conversation_id,
      channel: ev.source,
      customerId: ev.user.id,
      customerName: ev.user.name ?? null,
      text: ev.text,
      receivedAt: new Date(ev.received_at),
      outputs: ev.outputs,
      failures: ev.failures,
      degraded: ev.degraded,
      decision: decision ? { action: decision.action, finalText: outputOf(ev.outputs, "reply")?.text ?? null, reason: decision.reason ?? null, at: new Date(decision.at) } : null,
    };
    const id = escapeId(ev.message_id);
    if (!decision && ev.revision) {
      // The drafting stage completed a result already on the page: replace its bubble and details in place.
      this.streaming.delete(id);
      return (
        `<li id="pending-${id}" hx-swap-oob="delete"></li>` +
        `<div hx-swap-oob="outerHTML:#bubble-${id}">${render(Bubble({ e: entry, selected: false }))}</div>` +
        `<div hx-swap-oob="outerHTML:#details-${id}">${render(Details({ e: entry, corrections: [], intents: [] }))}</div>`
      );
    }
    if (decision) {
      return (
        `<div hx-swap-oob="outerHTML:#bubble-${id}">${render(Bubble({ e: entry, selected: false }))}</div>` +
        `<div hx-swap-oob="outerHTML:#draft-${id}">${render(Draft({ e: entry }))}</div>`
      );
    }
    this.streaming.delete(id);
    return (
      `<li id="pending-${id}" hx-swap-oob="delete"></li>` +
      `<div hx-swap-oob="beforeend:#thread">${render(Bubble({ e: entry, selected: false }))}</div>` +
      `<div hx-swap-oob="outerHTML:#details-${id}">${render(Details({ e: entry, corrections: [], intents: [] }))}</div>`
    );
  }
}

/** Message ids are UUIDs; anything else is reduced to safe id characters before it reaches a selector. */
function escapeId(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "");
}
