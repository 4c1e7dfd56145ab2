/**
 * A rate: at most `limit` events per `windowMs`, refilled evenly (GCRA), so a burst of `limit` is allowed from
 * rest and then one event every `windowMs / limit`.
 */
export interface Rate {
  limit: number;
  windowMs: number;
}

/** The answer for one event: allowed or not, and when the next one would be. */
export interface Decision {
  allowed: boolean;
  /** 0 when allowed; otherwise how long until one unit is available again. */
  retryAfterMs: number;
  /** Units left in the burst after this event. */
  remaining: number;
}

/** A held slot of a counted resource (an open socket); releasing it is idempotent. */
export interface Lease {
  release(): Promise<void>;
}

/**
 * Rate limits and concurrency caps keyed by caller (IP, visitor, API key, account); Redis shares them between
 * replicas, the embedded implementation keeps them in this process.
 */
export interface RateLimiter {
  readonly kind: "redis" | "memory";
  /** Atomically takes `cost` units from the key's budget, or refuses without taking any. */
  take(key: string, rate: Rate, cost?: number): Promise<Decision>;
  /** Forgets the key's history (a successful sign-in clears the account's failures). */
  reset(key: string): Promise<void>;
  /** Takes one of at most `max` slots under the key, or null when all are held. */
  acquire(key: string, max: number): Promise<Lease | null>;
  close(): Promise<void>;
}

/** The GCRA step shared by both implementations (the Lua script mirrors it): new state and decision. */
export function gcra(tat: number | null, now: number, rate: Rate, cost: number): { tat: number | null; decision: Decision } {
  const interval = rate.windowMs / rate.limit;
  const base = tat === null || tat < now ? now : tat;
  const next = base + interval * cost;
  const allowAt = next - rate.windowMs;
  if (allowAt > now) {
    return { tat, decision: { allowed: false, retryAfterMs: Math.ceil(allowAt - now), remaining: Math.max(0, Math.floor((now + rate.windowMs - base) / interval)) } };
  }
  return { tat: next, decision: { allowed: true, retryAfterMs: 0, remaining: Math.floor((now + rate.windowMs - next) / interval) } };
}
