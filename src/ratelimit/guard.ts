import { AppError } from "../errors.ts";
import { clientIp, TrustedProxies } from "../http/client-ip.ts";
import type { Logger } from "../obs/log.ts";
import type { Metrics } from "../obs/metrics.ts";
import type { Lease, Rate, RateLimiter } from "./interface.ts";
import { MemoryRateLimiter } from "./memory.ts";
import { PenaltyBox } from "./penalty.ts";

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

/**
 * Defaults: generous for people and integrations, far below what a flood needs. Widget messages per address keep 30 a
 * minute in smaller bursts (GCRA: a burst of `limit`, then one every `windowMs / limit`): a fresh flooding address gets
 * 5 messages into the pipeline at once, not 30, so the customers queued behind them wait for 5 messages' work, not 30
 * (docs/benchmarks.md, "Issue 14 — legitimate p99 under flood, third pass").
 */
export const DEFAULT_RATES: Record<RateName, Rate> = {
  chat_connect_ip: { limit: 30, windowMs: 60_000 },
  chat_message_ip: { limit: 5, windowMs: 10_000 },
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
  /** Longest time a refusal by the shared limiter is answered locally (penalty box) before asking it again. */
  penaltyBoxMs: number;
}

/** The default settings (embedded runs and tests that build routes by hand). */
export const DEFAULT_ABUSE: AbuseSettings = { enabled: true, trustedProxies: [], rates: DEFAULT_RATES, socketsPerIp: 20, inFlightPerSocket: 4, abusiveRefusals: 20, penaltyBoxMs: 2000 };

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

/** A route refused before routing when its caller's address is in the penalty box for `rule`. */
interface Gate {
  id: number;
  rule: RateName;
  headers: Record<string, string>;
  /** The answer's body for a Retry-After in seconds (HTML for a browser form); the JSON error when absent. */
  render?: (seconds: number) => string;
}

type Server = Parameters<typeof clientIp>[1];

/**
 * What routes call: named limits keyed by caller, the trusted client address, and socket slots. One instance per
 * process, over a limiter that Redis shares between replicas; refusals are cached in a penalty box so a flood is
 * answered before routing, from memory (see `early`).
 */
export class AbuseGuard {
  readonly proxies: TrustedProxies;
  /** Keys the shared limiter refused recently (a local cache of its verdict, see PenaltyBox). */
  readonly box: PenaltyBox;
  private readonly exact = new Map<string, Gate>();
  private readonly prefixes: { method: string; prefix: string; gate: Gate }[] = [];
  private gates = 0;
  /** Pre-built 429 answers by route and Retry-After seconds (a Response copies its init's Headers). */
  private readonly answers = new Map<string, { body: string; init: ResponseInit }>();
  private readonly earlyCounts = new Map<string, number>();
  private earlyLoggedAt = 0;

  constructor(
    readonly limiter: RateLimiter,
    readonly settings: AbuseSettings = DEFAULT_ABUSE,
    private readonly metrics?: Metrics,
    private readonly log?: Logger,
  ) {
    this.proxies = new TrustedProxies(settings.trustedProxies);
    this.box = new PenaltyBox(settings.penaltyBoxMs ?? DEFAULT_ABUSE.penaltyBoxMs);
  }

  /** The client address limits key on (see clientIp). */
  ip(request: Request, server: Server): string {
    return clientIp(request, server, this.proxies);
  }

  /**
   * Declares that `method path` (or every path under `path` ending in "/") checks `rule` on the caller's address
   * before anything else, so a boxed caller can be refused before routing with the same answer. `headers` are added
   * to that answer (CORS for the widget).
   */
  gate(method: string, path: string, rule: RateName, headers: Record<string, string> = {}, render?: (seconds: number) => string): void {
    const gate = { id: this.gates++, rule, headers: { "content-type": "application/json", ...headers }, render };
    if (path.endsWith("/")) this.prefixes.push({ method, prefix: path, gate });
    else this.exact.set(`${method} ${path}`, gate);
  }

  /**
   * The pre-routing check (an onRequest hook): a 429 with Retry-After when the caller's address is boxed for the
   * route's rule, answered without the limiter, body parsing, routing or validation; undefined otherwise.
   */
  early(request: Request, server: Server): Response | undefined {
    if (!this.settings.enabled || this.box.size === 0) return undefined;
    const url = request.url;
    const start = url.indexOf("/", url.indexOf("//") + 2);
    const q = url.indexOf("?", start);
    const path = q === -1 ? url.slice(start) : url.slice(start, q);
    let gate = this.exact.get(`${request.method} ${path}`);
    if (gate === undefined) {
      for (const p of this.prefixes) {
        if (p.method === request.method && path.startsWith(p.prefix)) {
          gate = p.gate;
          break;
        }
      }
      if (gate === undefined) return undefined;
    }
    const now = Date.now();
    const ms = this.box.retryAfterMs(`${gate.rule}:${this.ip(request, server)}`, now);
    if (ms <= 0) return undefined;
    const seconds = Math.max(1, Math.ceil(ms / 1000));
    this.countEarly(gate.rule, now);
    const k = `${gate.id}:${seconds}`;
    let a = this.answers.get(k);
    if (a === undefined) {
      a = { body: gate.render ? gate.render(seconds) : JSON.stringify(new RateLimited(gate.rule, seconds).toJSON()), init: { status: 429, headers: new Headers({ ...gate.headers, "retry-after": String(seconds) }) } };
      if (this.answers.size < 10_000) this.answers.set(k, a);
    }
    return new Response(a.body, a.init);
  }

  /** Counts an early refusal; one log line per minute sums them up instead of a line per refused request. */
  private countEarly(rule: RateName, now: number): void {
    if (this.metrics) this.metrics.refused(rule);
    if (!this.log) return;
    if (now - this.earlyLoggedAt >= 60_000) {
      if (this.earlyCounts.size) this.log.warn({ component: "ratelimit", refused: Object.fromEntries(this.earlyCounts) }, "requests refused before routing since the last summary");
      this.earlyLoggedAt = now;
      this.earlyCounts.clear();
    }
    this.earlyCounts.set(rule, (this.earlyCounts.get(rule) ?? 0) + 1);
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
      const now = Date.now();
      const boxed = this.box.retryAfterMs(k, now);
      if (boxed > 0) {
        this.metrics?.refused(name);
        return new RateLimited(name, Math.max(1, Math.ceil(boxed / 1000)));
      }
      const d = await this.limiter.take(k, this.settings.rates[name]);
      if (!d.allowed) {
        this.box.add(k, d.retryAfterMs, now);
        this.metrics?.refused(name);
        return new RateLimited(name, Math.max(1, Math.ceil(d.retryAfterMs / 1000)));
      }
    }
    return null;
  }

  /** Clears a limit's key (a successful sign-in clears the account's attempts). */
  reset(name: RateName, key: string): Promise<void> {
    this.box.delete(`${name}:${key}`);
    return this.limiter.reset(`${name}:${key}`);
  }

  /** Gives one unit of a limit back (a successful sign-in does not use up its address's budget). */
  async refund(name: RateName, key: string): Promise<void> {
    this.box.delete(`${name}:${key}`);
    if (this.settings.enabled) await this.limiter.take(`${name}:${key}`, this.settings.rates[name], -1);
  }

  /** A slot among the open sockets of one client address; null when the cap is reached. */
  async socketSlot(ip: string): Promise<Lease | null> {
    if (!this.settings.enabled) return { release: async () => {} };
    const lease = await this.limiter.acquire(`sockets:${ip}`, this.settings.socketsPerIp);
    if (!lease) this.metrics?.refused("sockets_per_ip");
    return lease;
  }
}

/** A guard with the default limits in this process (routes built without one, e.g. in tests). */
export function defaultGuard(): AbuseGuard {
  return new AbuseGuard(new MemoryRateLimiter());
}
