import { AppError } from "../errors.ts";
import { clientIp, TrustedProxies } from "../http/client-ip.ts";
import type { Metrics } from "../obs/metrics.ts";
import type { Lease, Rate, RateLimiter } from "./interface.ts";
import { MemoryRateLimiter } from "./memory.ts";

/** Every named limit; config.abuse.rates holds one Rate per name (README lists the defaults). */
export const RATE_NAMES = [
  "chat_connect_ip",
  "chat_message_ip",
  "chat_message_visitor",
  "history_ip",
  "history_visitor",
  "ingest_ip",
  "ingest_key",
  "review_key",
  "signin_ip",
  "signin_account",
  "webhook_ip",
  "webhook_source",
  "alert_webhook",
] as const;
export type RateName = (typeof RATE_NAMES)[number];

/** Defaults: generous for people and integrations, far below what a flood needs. */
export const DEFAULT_RATES: Record<RateName, Rate> = {
  chat_connect_ip: { limit: 30, windowMs: 60_000 },
  chat_message_ip: { limit: 30, windowMs: 60_000 },
  chat_message_visitor: { limit: 20, windowMs: 60_000 },
  history_ip: { limit: 30, windowMs: 60_000 },
  history_visitor: { limit: 10, windowMs: 60_000 },
  ingest_ip: { limit: 6000, windowMs: 60_000 },
  ingest_key: { limit: 6000, windowMs: 60_000 },
  review_key: { limit: 600, windowMs: 60_000 },
  signin_ip: { limit: 20, windowMs: 15 * 60_000 },
  signin_account: { limit: 10, windowMs: 15 * 60_000 },
  webhook_ip: { limit: 600, windowMs: 60_000 },
  webhook_source: { limit: 600, windowMs: 60_000 },
  alert_webhook: { limit: 30, windowMs: 60_000 },
};

/** Abuse-limit settings (config.abuse). */
export interface AbuseSettings {
  enabled: boolean;
  trustedProxies: string[];
  rates: Record<RateName, Rate>;
  socketsPerIp: number;
  inFlightPerSocket: number;
  /** Refused frames after which a chat socket is closed with 1008 (policy violation). */
  abusiveRefusals: number;
}

/** The default settings (embedded runs and tests that build routes by hand). */
export const DEFAULT_ABUSE: AbuseSettings = { enabled: true, trustedProxies: [], rates: DEFAULT_RATES, socketsPerIp: 20, inFlightPerSocket: 4, abusiveRefusals: 20 };

/** Over a limit: HTTP 429 with Retry-After (seconds), retriable. */
export class RateLimited extends AppError {
  constructor(readonly rule: RateName | "sockets_per_ip", readonly retryAfterS: number) {
    super("rate_limited", `too many requests; retry in ${retryAfterS} s`, { status: 429, retriable: true, details: { rule, retry_after_s: retryAfterS } });
  }

  /** The Retry-After header value. */
  get headers(): Record<string, string> {
    return { "retry-after": String(this.retryAfterS) };
  }
}

/** A Response for a RateLimited error, for handlers that answer without the app's error mapping. */
export function rateLimitedResponse(e: RateLimited, headers: Record<string, string> = {}): Response {
  return Response.json(e.toJSON(), { status: 429, headers: { ...headers, ...e.headers } });
}

/**
 * What routes call: named limits keyed by caller, the trusted client address, and socket slots. One instance per
 * process, over a limiter that Redis shares between replicas.
 */
export class AbuseGuard {
  readonly proxies: TrustedProxies;
  /**
   * Keys refused recently, until their next unit is due: a flood is then refused without a round trip to Redis.
   * Safe because no replica can make a refused key's unit available sooner (only reset/refund, which clear it here).
   */
  private readonly refusedUntil = new Map<string, number>();

  constructor(
    readonly limiter: RateLimiter,
    readonly settings: AbuseSettings = DEFAULT_ABUSE,
    private readonly metrics?: Metrics,
  ) {
    this.proxies = new TrustedProxies(settings.trustedProxies);
  }

  /** The client address limits key on (see clientIp). */
  ip(request: Request, server: Parameters<typeof clientIp>[1]): string {
    return clientIp(request, server, this.proxies);
  }

  /** Takes one unit of each named limit for its key; throws RateLimited (nothing more is taken) when any is spent. */
  async check(...pairs: [RateName, string][]): Promise<void> {
    const e = await this.refusal(...pairs);
    if (e) throw e;
  }

  /** Like check, but returns the refusal instead of throwing (socket handlers answer with a frame). */
  async refusal(...pairs: [RateName, string][]): Promise<RateLimited | null> {
    if (!this.settings.enabled) return null;
    for (const [name, key] of pairs) {
      const k = `${name}:${key}`;
      const until = this.refusedUntil.get(k);
      const now = Date.now();
      if (until !== undefined && until > now) {
        this.metrics?.rateLimited.inc({ rule: name });
        return new RateLimited(name, Math.max(1, Math.ceil((until - now) / 1000)));
      }
      const d = await this.limiter.take(k, this.settings.rates[name]);
      if (!d.allowed) {
        this.refusedUntil.delete(k);
        this.refusedUntil.set(k, now + d.retryAfterMs);
        if (this.refusedUntil.size > 50_000) this.refusedUntil.delete(this.refusedUntil.keys().next().value!);
        this.metrics?.rateLimited.inc({ rule: name });
        return new RateLimited(name, Math.max(1, Math.ceil(d.retryAfterMs / 1000)));
      }
    }
    return null;
  }

  /** Clears a limit's key (a successful sign-in clears the account's attempts). */
  reset(name: RateName, key: string): Promise<void> {
    this.refusedUntil.delete(`${name}:${key}`);
    return this.limiter.reset(`${name}:${key}`);
  }

  /** Gives one unit of a limit back (a successful sign-in does not use up its address's budget). */
  async refund(name: RateName, key: string): Promise<void> {
    this.refusedUntil.delete(`${name}:${key}`);
    if (this.settings.enabled) await this.limiter.take(`${name}:${key}`, this.settings.rates[name], -1);
  }

  /** A slot among the open sockets of one client address; null when the cap is reached. */
  async socketSlot(ip: string): Promise<Lease | null> {
    if (!this.settings.enabled) return { release: async () => {} };
    const lease = await this.limiter.acquire(`sockets:${ip}`, this.settings.socketsPerIp);
    if (!lease) this.metrics?.rateLimited.inc({ rule: "sockets_per_ip" });
    return lease;
  }
}

/** A guard with the default limits in this process (routes built without one, e.g. in tests). */
export function defaultGuard(): AbuseGuard {
  return new AbuseGuard(new MemoryRateLimiter());
}
