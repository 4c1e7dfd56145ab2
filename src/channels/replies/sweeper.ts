import { toAppError } from "../../errors.ts";
import type { Logger } from "../../obs/log.ts";
import type { Outbox } from "../../outbox/outbox.ts";
import { checks, parseContract } from "../../schema/events.ts";
import type { ReplyService } from "./service.ts";

/** Options of the reply sweeper. */
export interface ReplySweeperOptions {
  /** A reply younger than this is left to the live path (the hub's tail, the approval flow's hand-off). */
  graceMs: number;
  intervalMs: number;
  batchSize: number;
  /** REPLY_AUTO_SEND: auto-sent results are sent only when on (decisions are always sent). */
  autoSend: boolean;
}

/**
 * Sends the approved and auto-sent replies that no live path sent: results published while no hub ran (a rolling
 * deploy), or a process that died between recording a decision and handing it over. It works from the outbox rows
 * that carry a reply, claimed with a lease so two replicas do not work on the same row; the reply log's idempotency
 * key (`<messageId>:reply`) and its atomic claim keep each reply sent at most once whatever races.
 */
export class ReplySweeper {
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<unknown> | null = null;
  private readonly log: Logger;

  constructor(private readonly outbox: Outbox, private readonly replies: ReplyService, private readonly o: ReplySweeperOptions, log: Logger) {
    this.log = log.child({ component: "reply-sweeper" });
  }

  /** One pass: claims due rows and makes sure each reply is sent or recorded. Returns the rows handled. */
  async sweep(): Promise<number> {
    const due = await this.outbox.claimDueReplies(this.o.graceMs, this.o.batchSize);
    const done: number[] = [];
    for (const row of due) {
      try {
        const ev = parseContract(checks.resultEvent, row.value, "result event");
        if (!ev.ok) throw ev.error;
        const r = await this.replies.sendApproved(ev.value, { autoSend: this.o.autoSend });
        if (r && r.status === "sent") this.log.debug({ msg_id: row.messageId, reply: r.id }, "swept reply handled");
        done.push(row.id);
      } catch (e) {
        const ae = toAppError(e);
        if (!ae.retriable) {
          this.log.error({ msg_id: row.messageId, code: ae.code, err: ae.message }, "swept reply cannot be sent; given up");
          done.push(row.id);
        } else {
          this.log.warn({ msg_id: row.messageId, code: ae.code, err: ae.message }, "swept reply not handled yet; retried on a later sweep");
          await this.outbox.releaseReply(row.id).catch(() => {});
        }
      }
    }
    await this.outbox.replyDone({ ids: done });
    return due.length;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweep()
        .catch((e) => this.log.warn({ err: (e as Error).message }, "reply sweep failed"))
        .finally(() => (this.running = null));
    }, this.o.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
