/**
 * A local cache of the shared limiter's refusals: key → until when it is refused. A flood of refused requests is
 * then answered from memory, without a round trip to Redis and without parsing the request. It can only be stale
 * towards refusing: no replica can make a refused key's unit available sooner than its retry-after, except a reset or
 * refund (a successful sign-in), and the TTL bounds how long another replica's reset goes unseen here.
 */
export class PenaltyBox {
  private readonly entries = new Map<string, { until: number; expires: number }>();

  constructor(
    /** Longest time a verdict is trusted locally before the shared limiter is asked again. */
    readonly ttlMs: number,
    private readonly maxKeys = 50_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until the key's next unit when it is boxed, else 0 (and an expired entry is dropped). */
  retryAfterMs(key: string, now = this.now()): number {
    const e = this.entries.get(key);
    if (e === undefined) return 0;
    if (e.expires <= now) {
      this.entries.delete(key);
      return 0;
    }
    return e.until - now;
  }

  /** Boxes a key the shared limiter just refused, for its retry-after but at most the TTL. */
  add(key: string, retryAfterMs: number, now = this.now()): void {
    if (retryAfterMs <= 0 || this.ttlMs <= 0) return;
    // Re-inserting keeps insertion order oldest-first, so the bound below drops the stalest key.
    this.entries.delete(key);
    this.entries.set(key, { until: now + retryAfterMs, expires: now + Math.min(retryAfterMs, this.ttlMs) });
    if (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Forgets a key (its budget was reset or refunded in this process). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Keys currently held (expired ones included until they are next looked up or pushed out). */
  get size(): number {
    return this.entries.size;
  }
}
