import { hostname } from "node:os";
import { Type } from "@sinclair/typebox";
import { AppError } from "../../errors.ts";
import type { MessagePublisher } from "../../ingest/publisher.ts";
import type { Logger } from "../../obs/log.ts";
import type { MessageLimits } from "../../schema/message.ts";
import { backoffMs } from "../ids.ts";
import type { ChannelStore } from "../store.ts";
import { postToIncoming, RateLimited, type PollingSource } from "./types.ts";

/** The stored poll position of a source. */
const CursorSchema = Type.Object({ cursor: Type.Union([Type.String(), Type.Null()]) });

/** Dependencies of the social poller. */
export interface SocialPollerDeps {
  publisher: MessagePublisher;
  store: ChannelStore;
  limits: MessageLimits;
  log: Logger;
  owner?: string;
  backoff?: { baseMs: number; maxMs: number };
  leaseMs?: number;
}

/** What one poll did. */
export interface PollOutcome {
  published: number;
  rejected: number;
  cursor: string | null;
  /** Set when the source is rate limited or its quota is spent: the next poll waits until then (epoch ms). */
  waitUntil: number | null;
}

/**
 * SocialPoller: runs every registered PollingSource on its interval under a lease (one replica per source),
 * publishes new items oldest first, then saves the source's cursor. 429s wait for the API's reset time;
 * other failures back off exponentially.
 */
export class SocialPoller {
  private readonly owner: string;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(private readonly sources: PollingSource[], private readonly d: SocialPollerDeps) {
    const names = new Set<string>();
    for (const s of sources) {
      if (names.has(s.name)) throw new AppError("invalid_options", `two social sources are named ${s.name}`);
      names.add(s.name);
    }
    this.owner = d.owner ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    this.log = d.log.child({ component: "social" });
  }

  /** Checkpoint key of a source. */
  static key(source: PollingSource): string {
    return `social:${source.name}`;
  }

  /** Polls one source once: read cursor, fetch, publish in order, save cursor (fenced by the lease). */
  async pollOnce(source: PollingSource): Promise<PollOutcome> {
    const key = SocialPoller.key(source);
    const leaseMs = this.d.leaseMs ?? Math.max(60_000, source.intervalMs * 3);
    if (!(await this.d.store.acquireLease(key, this.owner, leaseMs))) return { published: 0, rejected: 0, cursor: null, waitUntil: null };
    const saved = await this.d.store.readCheckpoint(key, CursorSchema);
    const page = await source.poll(saved?.cursor ?? null, this.abort.signal);
    let published = 0;
    let rejected = 0;
    for (const post of page.posts) {
      const res = await this.d.publisher.submit(postToIncoming(post, this.d.limits));
      if (res.ok) published++;
      else {
        rejected++;
        this.log.warn({ source: source.name, post: post.id, err: res.error.message }, "social item rejected by validation");
      }
    }
    if (page.cursor !== (saved?.cursor ?? null)) {
      if (!(await this.d.store.commitCheckpoint(key, this.owner, { cursor: page.cursor }))) throw new AppError("lease_lost", `lease on ${key} lost before the cursor was saved`, { retriable: true });
    }
    return { published, rejected, cursor: page.cursor, waitUntil: page.waitUntil ?? null };
  }

  /** Starts one loop per source. */
  start(): void {
    for (const s of this.sources) this.loops.push(this.loop(s));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const w of this.wakers) w();
    await Promise.all(this.loops);
    this.loops = [];
    await Promise.all(this.sources.map((s) => this.d.store.releaseLease(SocialPoller.key(s), this.owner).catch(() => {})));
  }

  private async loop(s: PollingSource): Promise<void> {
    const { baseMs, maxMs } = this.d.backoff ?? { baseMs: 1000, maxMs: 5 * 60_000 };
    let failures = 0;
    while (!this.abort.signal.aborted) {
      let wait = s.intervalMs;
      try {
        const out = await this.pollOnce(s);
        failures = 0;
        if (out.published) this.log.info({ source: s.name, published: out.published }, "social items published");
        if (out.waitUntil) wait = Math.max(wait, out.waitUntil - Date.now());
      } catch (e) {
        if (this.abort.signal.aborted) break;
        if (e instanceof RateLimited) {
          wait = Math.max(1000, e.resetAt - Date.now());
          this.log.warn({ source: s.name, resumeInMs: wait }, "rate limited; waiting for the reset");
        } else {
          wait = backoffMs(failures++, baseMs, maxMs);
          const retriable = e instanceof AppError ? e.retriable : true;
          this.log[retriable ? "warn" : "error"]({ source: s.name, err: (e as Error).message, retryInMs: wait }, "social poll failed");
        }
      }
      await this.sleep(wait);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}
