/**
 * The queue in front of the generator. A small CPU model drafts one reply at a time, so under load drafts wait here,
 * most urgent first, and each draft's time budget only starts once it holds a slot. A draft that waited longer than
 * `maxWaitMs` gives up (it is then drafted without the model and says so) instead of timing out unseen.
 */
import { AppError } from "../errors.ts";

/** Options of the generation queue (config `llm.concurrency`, `reply.queueMaxWaitMs`). */
export interface GenerationQueueOptions {
  /** Generations that run at once (1 for the embedded model: it has one context). */
  concurrency: number;
  /** Longest a draft waits for a slot before giving up. */
  maxWaitMs: number;
}

/** A held slot: call `release` when the generation is over. */
export interface Slot {
  release: () => void;
  waitedMs: number;
  /** Drafts running or waiting when this one arrived. */
  ahead: number;
}

/** Why no slot was obtained. */
export interface NoSlot {
  reason: "gave_up" | "aborted";
  waitedMs: number;
  ahead: number;
}

interface Waiter {
  priority: number;
  seq: number;
  grant: () => void;
}

/** Urgency and sentiment as a queue priority (higher runs first). */
export function draftPriority(urgency: string | null, sentiment: string | null): number {
  const u = urgency === "critical" || urgency === "urgent" ? 3 : urgency === "high" ? 2 : urgency === "low" ? 0 : 1;
  const s = sentiment === "frustrated" || sentiment === "angry" || sentiment === "very_negative" ? 1 : 0;
  return u * 2 + s;
}

/** A priority semaphore: most urgent first, first come first served within a priority. */
export class GenerationQueue {
  private running = 0;
  private seq = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly o: GenerationQueueOptions) {
    if (o.concurrency < 1) throw new AppError("bad_options", "generation concurrency must be at least 1");
    if (o.maxWaitMs < 0) throw new AppError("bad_options", "generation queue maxWaitMs must be >= 0");
  }

  /** Drafts waiting for a slot now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Waits for a slot; resolves with the slot, or with why there is none (waited too long, or `signal` aborted). */
  acquire(priority: number, signal?: AbortSignal): Promise<{ ok: true; slot: Slot } | { ok: false; why: NoSlot }> {
    const t0 = performance.now();
    const ahead = this.running < this.o.concurrency && this.waiters.length === 0 ? 0 : this.waiters.length + this.running;
    const slot = (): Slot => {
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          this.running--;
          this.next();
        },
        waitedMs: Math.round((performance.now() - t0) * 100) / 100,
        ahead,
      };
    };
    if (signal?.aborted) return Promise.resolve({ ok: false, why: { reason: "aborted", waitedMs: 0, ahead: 0 } });
    if (this.running < this.o.concurrency && this.waiters.length === 0) {
      this.running++;
      return Promise.resolve({ ok: true, slot: slot() });
    }
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const leave = (reason: NoSlot["reason"]) => {
        const i = this.waiters.indexOf(w);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve({ ok: false, why: { reason, waitedMs: Math.round(performance.now() - t0), ahead } });
      };
      const onAbort = () => leave("aborted");
      const w: Waiter = {
        priority,
        seq: this.seq++,
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve({ ok: true, slot: slot() });
        },
      };
      this.waiters.push(w);
      timer = setTimeout(() => leave("gave_up"), this.o.maxWaitMs);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private next(): void {
    while (this.running < this.o.concurrency && this.waiters.length > 0) {
      let best = 0;
      for (let i = 1; i < this.waiters.length; i++) {
        const a = this.waiters[i]!;
        const b = this.waiters[best]!;
        if (a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq)) best = i;
      }
      const [w] = this.waiters.splice(best, 1);
      this.running++;
      w!.grant();
    }
  }
}
