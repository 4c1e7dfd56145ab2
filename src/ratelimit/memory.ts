import { gcra, type Decision, type Lease, type Rate, type RateLimiter } from "./interface.ts";

/** In-process limiter (embedded default, and the fallback of the Redis one while Redis is unreachable). */
export class MemoryRateLimiter implements RateLimiter {
  readonly kind = "memory";
  private readonly tats = new Map<string, { tat: number; expires: number }>();
  private readonly held = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now, private readonly maxKeys = 200_000) {}

  async take(key: string, rate: Rate, cost = 1): Promise<Decision> {
    return this.takeSync(key, rate, cost);
  }

  /** Synchronous take, so the fallback path adds no await between check and update. */
  takeSync(key: string, rate: Rate, cost = 1): Decision {
    const t = this.now();
    const cur = this.tats.get(key);
    const r = gcra(cur && cur.expires > t ? cur.tat : null, t, rate, cost);
    if (r.decision.allowed && r.tat !== null) {
      // Re-inserting keeps the map in least-recently-used order, so the eviction below drops idle keys first.
      this.tats.delete(key);
      this.tats.set(key, { tat: r.tat, expires: r.tat });
      if (this.tats.size > this.maxKeys) this.evict(t);
    }
    return r.decision;
  }

  async reset(key: string): Promise<void> {
    this.tats.delete(key);
  }

  async acquire(key: string, max: number): Promise<Lease | null> {
    const n = this.held.get(key) ?? 0;
    if (n >= max) return null;
    this.held.set(key, n + 1);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        const left = (this.held.get(key) ?? 1) - 1;
        if (left <= 0) this.held.delete(key);
        else this.held.set(key, left);
      },
    };
  }

  async close(): Promise<void> {}

  private evict(t: number): void {
    for (const [k, v] of this.tats) {
      if (this.tats.size <= this.maxKeys * 0.9) break;
      if (v.expires <= t || this.tats.size > this.maxKeys) this.tats.delete(k);
    }
  }
}
