import { createHash, randomUUID } from "node:crypto";
import Redis from "ioredis";
import type { Decision, Lease, Rate, RateLimiter } from "./interface.ts";
import { MemoryRateLimiter } from "./memory.ts";

// GCRA in one script, timed by the Redis server's clock so every replica agrees. Mirrors gcra() in interface.ts.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local nxt = tat + interval * cost
local allowAt = nxt - window
if allowAt > now then
  return {0, math.ceil(allowAt - now), math.floor((now + window - tat) / interval)}
end
redis.call('SET', KEYS[1], string.format('%.3f', nxt), 'PX', math.max(1, math.ceil(nxt - now)))
return {1, 0, math.floor((now + window - nxt) / interval)}
`;

// Leases are members of a sorted set scored by expiry: a crashed replica's slots expire instead of leaking forever.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`;

const REFRESH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`;

type Scripted = Redis & {
  rlTake(key: string, interval: number, window: number, cost: number): Promise<[number, number, number]>;
  rlAcquire(key: string, max: number, member: string, ttl: number): Promise<number>;
  rlRefresh(key: string, member: string, ttl: number): Promise<number>;
};

/**
 * Redis limiter shared by every replica: one Lua call per decision, so parallel requests on any replica can never
 * both take the last unit. While Redis is unreachable it degrades to a per-process limiter instead of failing open.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly kind = "redis";
  private readonly redis: Scripted;
  private readonly fallback = new MemoryRateLimiter();
  private readonly leases = new Map<string, { key: string; member: string }>();
  private refresher: ReturnType<typeof setInterval> | null = null;

  constructor(
    url: string,
    private readonly opts: { prefix?: string; leaseTtlMs?: number; onFallback?: (err: Error) => void } = {},
  ) {
    // A bounded command timeout: a stalled Redis degrades to the in-process fallback instead of stalling requests.
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2000, commandTimeout: 1000 }) as Scripted;
    this.redis.on("error", () => {
      /* surfaced by the fallback callback; ioredis reconnects by itself */
    });
    this.redis.defineCommand("rlTake", { numberOfKeys: 1, lua: TAKE });
    this.redis.defineCommand("rlAcquire", { numberOfKeys: 1, lua: ACQUIRE });
    this.redis.defineCommand("rlRefresh", { numberOfKeys: 1, lua: REFRESH });
  }

  /** Callers' keys hold emails and addresses: Redis only ever sees a hash of them. */
  private k(key: string, kind: string): string {
    return `${this.opts.prefix ?? "copilot:rl:"}${kind}:${createHash("sha256").update(key).digest("base64url").slice(0, 32)}`;
  }

  private get ttl(): number {
    return this.opts.leaseTtlMs ?? 60_000;
  }

  /** While the connection is down, decisions are made locally at once rather than after a command timeout. */
  private get down(): boolean {
    return this.redis.status !== "ready";
  }

  async take(key: string, rate: Rate, cost = 1): Promise<Decision> {
    if (this.down) {
      this.opts.onFallback?.(new Error(`redis connection ${this.redis.status}`));
      return this.fallback.takeSync(key, rate, cost);
    }
    try {
      const [allowed, retryAfterMs, remaining] = await this.redis.rlTake(this.k(key, "r"), rate.windowMs / rate.limit, rate.windowMs, cost);
      return { allowed: allowed === 1, retryAfterMs: Number(retryAfterMs), remaining: Math.max(0, Number(remaining)) };
    } catch (e) {
      this.opts.onFallback?.(e as Error);
      return this.fallback.takeSync(key, rate, cost);
    }
  }

  async reset(key: string): Promise<void> {
    await this.redis.del(this.k(key, "r")).catch((e) => this.opts.onFallback?.(e as Error));
    await this.fallback.reset(key);
  }

  async acquire(key: string, max: number): Promise<Lease | null> {
    const zkey = this.k(key, "c");
    const member = randomUUID();
    let ok: number;
    if (this.down) return this.fallback.acquire(key, max);
    try {
      ok = await this.redis.rlAcquire(zkey, max, member, this.ttl);
    } catch (e) {
      this.opts.onFallback?.(e as Error);
      return this.fallback.acquire(key, max);
    }
    if (ok !== 1) return null;
    this.leases.set(member, { key: zkey, member });
    this.refresher ??= setInterval(() => void this.refresh(), Math.max(1000, Math.floor(this.ttl / 3)));
    this.refresher.unref?.();
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        this.leases.delete(member);
        if (this.leases.size === 0 && this.refresher) {
          clearInterval(this.refresher);
          this.refresher = null;
        }
        await this.redis.zrem(zkey, member).catch(() => {});
      },
    };
  }

  /** Long-lived sockets outlive a lease's TTL: their slots are renewed while this process holds them. */
  private async refresh(): Promise<void> {
    if (this.leases.size === 0) return;
    const p = this.redis.pipeline();
    for (const l of this.leases.values()) (p as unknown as Scripted).rlRefresh(l.key, l.member, this.ttl);
    await p.exec().catch((e) => this.opts.onFallback?.(e as Error));
  }

  async ping(): Promise<boolean> {
    return (await this.redis.ping().catch(() => "")) === "PONG";
  }

  async close(): Promise<void> {
    if (this.refresher) clearInterval(this.refresher);
    this.refresher = null;
    await Promise.all([...this.leases.values()].map((l) => this.redis.zrem(l.key, l.member).catch(() => {})));
    this.leases.clear();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
