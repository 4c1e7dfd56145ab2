import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config.ts";
import { parseApiKeys } from "../../src/http/auth.ts";
import { clientIp, TrustedProxies } from "../../src/http/client-ip.ts";
import { MemoryRateLimiter } from "../../src/ratelimit/memory.ts";
import { RedisRateLimiter } from "../../src/ratelimit/redis.ts";
import { describeWith, rand, services } from "../support/env.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newKeyFile } from "../../src/privacy/keys.ts";
import { PenaltyBox } from "../../src/ratelimit/penalty.ts";
import { AbuseGuard, DEFAULT_ABUSE } from "../../src/ratelimit/guard.ts";
import type { Decision, Lease, Rate, RateLimiter } from "../../src/ratelimit/interface.ts";
import { Metrics } from "../../src/obs/metrics.ts";

const minute = { limit: 10, windowMs: 60_000 };

describe("in-memory limiter (GCRA)", () => {
  test("a burst of `limit`, then one unit per window/limit; refusals take nothing and say when to retry", async () => {
    let now = 1_000_000;
    const l = new MemoryRateLimiter(() => now);
    const first = await Promise.all(Array.from({ length: 15 }, () => l.take("k", minute)));
    expect(first.filter((d) => d.allowed).length).toBe(10);
    const refused = first.find((d) => !d.allowed)!;
    expect(refused.retryAfterMs).toBe(6000);
    now += 5999;
    expect((await l.take("k", minute)).allowed).toBe(false);
    now += 1;
    expect((await l.take("k", minute)).allowed).toBe(true);
    expect((await l.take("k", minute)).allowed).toBe(false);
    expect((await l.take("other", minute)).allowed).toBe(true);
    await l.reset("k");
    expect((await l.take("k", minute)).remaining).toBe(9);
  });

  test("socket slots: at most `max` held per key, released slots are reusable, release is idempotent", async () => {
    const l = new MemoryRateLimiter();
    const a = await l.acquire("ip", 2);
    const b = await l.acquire("ip", 2);
    expect(a && b).toBeTruthy();
    expect(await l.acquire("ip", 2)).toBeNull();
    await a!.release();
    await a!.release();
    const c = await l.acquire("ip", 2);
    expect(c).not.toBeNull();
    expect(await l.acquire("ip", 2)).toBeNull();
  });
});

describeWith("redis", "Redis limiter (shared by replicas)", () => {
  test("parallel takes from two replicas never exceed the budget (one Lua call per decision)", async () => {
    const a = new RedisRateLimiter(services.redis!, { prefix: `test:rl:${rand()}:` });
    const b = new RedisRateLimiter(services.redis!, { prefix: (a as unknown as { opts: { prefix: string } }).opts.prefix });
    try {
      expect((await a.ping()) && (await b.ping())).toBe(true);
      const key = `visitor-${rand()}`;
      const all = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).take(key, minute)));
      expect(all.filter((d) => d.allowed).length).toBe(10);
      const refused = all.filter((d) => !d.allowed);
      expect(refused.every((d) => d.retryAfterMs > 0 && d.retryAfterMs <= 6000)).toBe(true);
      await a.reset(key);
      expect((await b.take(key, minute)).allowed).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("socket slots are counted across replicas and freed on release; keys in Redis are hashes, not addresses", async () => {
    const prefix = `test:rl:${rand()}:`;
    const a = new RedisRateLimiter(services.redis!, { prefix });
    const b = new RedisRateLimiter(services.redis!, { prefix });
    try {
      expect((await a.ping()) && (await b.ping())).toBe(true);
      const ip = "203.0.113.77";
      const held = await Promise.all([a.acquire(ip, 3), b.acquire(ip, 3), a.acquire(ip, 3), b.acquire(ip, 3), a.acquire(ip, 3)]);
      expect(held.filter(Boolean).length).toBe(3);
      await held.find(Boolean)!.release();
      expect(await b.acquire(ip, 3)).not.toBeNull();
      expect(await a.acquire(ip, 3)).toBeNull();
      const { default: Redis } = await import("ioredis");
      const r = new Redis(services.redis!);
      const keys = await r.keys(`${prefix}*`);
      await r.quit();
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.some((k) => k.includes(ip))).toBe(false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("penalty boxes are per replica, the verdict is shared: a replica that never refused the key still refuses it", async () => {
    const prefix = `test:rl:${rand()}:`;
    const a = new RedisRateLimiter(services.redis!, { prefix });
    const b = new RedisRateLimiter(services.redis!, { prefix });
    const rates = { ...DEFAULT_ABUSE.rates, history_ip: { limit: 3, windowMs: 60_000 } };
    const ga = new AbuseGuard(a, { ...DEFAULT_ABUSE, rates });
    const gb = new AbuseGuard(b, { ...DEFAULT_ABUSE, rates });
    try {
      expect((await a.ping()) && (await b.ping())).toBe(true);
      const ip = `203.0.113.${Math.floor(Math.random() * 250)}`;
      for (let i = 0; i < 3; i++) expect(await (i % 2 ? ga : gb).refusal(["history_ip", ip])).toBeNull();
      expect(await ga.refusal(["history_ip", ip])).not.toBeNull();
      expect(ga.box.size).toBe(1);
      expect(gb.box.size).toBe(0);
      // Replica B asks Redis (its box is empty) and gets the shared refusal, then boxes it too.
      expect((await gb.refusal(["history_ip", ip]))?.rule).toBe("history_ip");
      expect(gb.box.size).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("with Redis unreachable it still limits, in this process", async () => {
    let fellBack = 0;
    const l = new RedisRateLimiter("redis://127.0.0.1:1", { onFallback: () => fellBack++ });
    try {
      const all = [];
      for (let i = 0; i < 12; i++) all.push(await l.take("k", minute));
      expect(all.filter((d) => d.allowed).length).toBe(10);
      expect(fellBack).toBeGreaterThan(0);
    } finally {
      await l.close();
    }
  });
});

/** A limiter over a memory one that counts the calls reaching it (what the penalty box saves). */
class CountingLimiter implements RateLimiter {
  readonly kind = "memory";
  calls = 0;
  constructor(private readonly inner: MemoryRateLimiter) {}
  take(key: string, rate: Rate, cost?: number): Promise<Decision> {
    this.calls++;
    return this.inner.take(key, rate, cost);
  }
  reset(key: string): Promise<void> {
    return this.inner.reset(key);
  }
  acquire(key: string, max: number): Promise<Lease | null> {
    return this.inner.acquire(key, max);
  }
  async close(): Promise<void> {}
}

describe("penalty box (local cache of the shared verdict)", () => {
  test("holds a refused key for its retry-after, at most the TTL; bounded in size; delete forgets", () => {
    let now = 1_000;
    const box = new PenaltyBox(2000, 3, () => now);
    box.add("a", 500);
    box.add("b", 10_000);
    expect(box.retryAfterMs("a")).toBe(500);
    expect(box.retryAfterMs("b")).toBe(10_000);
    now += 600;
    expect(box.retryAfterMs("a")).toBe(0);
    // Past the TTL the local verdict is dropped (the shared limiter is asked again), whatever the retry-after said.
    now += 1500;
    expect(box.retryAfterMs("b")).toBe(0);
    box.add("c", 1000);
    box.add("d", 1000);
    box.add("e", 1000);
    box.add("f", 1000);
    expect(box.size).toBe(3);
    expect(box.retryAfterMs("c")).toBe(0);
    expect(box.retryAfterMs("f")).toBe(1000);
    box.delete("f");
    expect(box.retryAfterMs("f")).toBe(0);
    const off = new PenaltyBox(0, 10, () => now);
    off.add("x", 1000);
    expect(off.retryAfterMs("x")).toBe(0);
  });

  test("refused keys are answered without the limiter until the TTL; then the limiter decides again", async () => {
    const limiter = new CountingLimiter(new MemoryRateLimiter());
    const guard = new AbuseGuard(limiter, { ...DEFAULT_ABUSE, rates: { ...DEFAULT_ABUSE.rates, history_ip: { limit: 2, windowMs: 60_000 } }, penaltyBoxMs: 150 });
    expect(await guard.refusal(["history_ip", "203.0.113.1"])).toBeNull();
    expect(await guard.refusal(["history_ip", "203.0.113.1"])).toBeNull();
    const first = await guard.refusal(["history_ip", "203.0.113.1"]);
    expect(first?.rule).toBe("history_ip");
    expect(first!.retryAfterS).toBe(30);
    expect(limiter.calls).toBe(3);
    for (let i = 0; i < 50; i++) expect((await guard.refusal(["history_ip", "203.0.113.1"]))?.retryAfterS).toBeGreaterThan(0);
    expect(limiter.calls).toBe(3);
    // Another address is not affected.
    expect(await guard.refusal(["history_ip", "203.0.113.2"])).toBeNull();
    await Bun.sleep(200);
    expect(await guard.refusal(["history_ip", "203.0.113.1"])).not.toBeNull();
    expect(limiter.calls).toBe(5);
    // A reset (successful sign-in) empties the box for that key at once.
    await guard.reset("history_ip", "203.0.113.1");
    expect(await guard.refusal(["history_ip", "203.0.113.1"])).toBeNull();
  });

  test("early(): a boxed address gets a pre-built 429 on gated routes only; refusals reach the metric at scrape", async () => {
    const metrics = new Metrics(false);
    const guard = new AbuseGuard(new MemoryRateLimiter(), { ...DEFAULT_ABUSE, trustedProxies: ["127.0.0.1"], rates: { ...DEFAULT_ABUSE.rates, history_ip: { limit: 1, windowMs: 60_000 } } }, metrics);
    guard.gate("POST", "/widget/history", "history_ip", { "access-control-allow-origin": "*" });
    guard.gate("POST", "/hooks/", "webhook_ip");
    const peer = { requestIP: () => ({ address: "127.0.0.1" }) };
    const req = (path: string, ip: string, method = "POST") => new Request(`http://h:1${path}`, { method, headers: { "x-forwarded-for": ip } });
    expect(guard.early(req("/widget/history", "198.51.100.7"), peer)).toBeUndefined();
    expect(await guard.refusal(["history_ip", "198.51.100.7"])).toBeNull();
    expect(await guard.refusal(["history_ip", "198.51.100.7"])).not.toBeNull();
    const r = guard.early(req("/widget/history?x=1", "198.51.100.7"), peer)!;
    expect(r.status).toBe(429);
    expect(Number(r.headers.get("retry-after"))).toBe(60);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(await r.json()).toEqual({ error: { code: "rate_limited", message: "too many requests; retry in 60 s", details: { rule: "history_ip", retry_after_s: 60 } } });
    // The same answer twice (the pre-built body and headers are reused, not consumed).
    expect((await guard.early(req("/widget/history", "198.51.100.7"), peer)!.json()) as unknown).toMatchObject({ error: { code: "rate_limited" } });
    expect(guard.early(req("/widget/history", "198.51.100.8"), peer)).toBeUndefined();
    expect(guard.early(req("/widget/history", "198.51.100.7", "GET"), peer)).toBeUndefined();
    expect(guard.early(req("/widget/other", "198.51.100.7"), peer)).toBeUndefined();
    // Prefix gates cover every path below them.
    await guard.refusal(["webhook_ip", "198.51.100.9"]);
    for (let i = 0; i < 700 && !guard.early(req("/hooks/forum", "198.51.100.9"), peer); i++) await guard.refusal(["webhook_ip", "198.51.100.9"]);
    expect(guard.early(req("/hooks/forum", "198.51.100.9"), peer)?.status).toBe(429);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/copilot_rate_limited_total\{rule="history_ip"\} 3/);
    expect(text).toMatch(/copilot_rate_limited_total\{rule="webhook_ip"\} \d+/);
  });
});

describe("client address", () => {
  const server = (address: string) => ({ requestIP: () => ({ address }) });
  const req = (xff?: string) => new Request("http://x/", { headers: xff ? { "x-forwarded-for": xff } : {} });

  test("X-Forwarded-For is ignored unless the peer is a trusted proxy", () => {
    const none = new TrustedProxies([]);
    expect(clientIp(req("198.51.100.1"), server("203.0.113.9"), none)).toBe("203.0.113.9");
    expect(clientIp(req("198.51.100.1"), undefined, none)).toBe("unknown");
  });

  test("behind trusted proxies the rightmost untrusted hop wins, so a client cannot prepend its own address", () => {
    const proxies = new TrustedProxies(["10.0.0.0/8", "127.0.0.1", "::1"]);
    expect(clientIp(req("198.51.100.1"), server("10.1.2.3"), proxies)).toBe("198.51.100.1");
    expect(clientIp(req("1.2.3.4, 198.51.100.1, 10.0.0.5"), server("10.1.2.3"), proxies)).toBe("198.51.100.1");
    expect(clientIp(req("not-an-ip"), server("127.0.0.1"), proxies)).toBe("127.0.0.1");
    expect(clientIp(req(), server("::ffff:127.0.0.1"), proxies)).toBe("::ffff:127.0.0.1");
    expect(clientIp(req("198.51.100.2"), server("::ffff:127.0.0.1"), proxies)).toBe("198.51.100.2");
    expect(() => new TrustedProxies(["10.0.0.0/33"])).toThrow();
  });
});

describe("limits and keys in config", () => {
  test("widget messages per address: 30 a minute by default, but a fresh address puts only 5 into the pipeline at once", async () => {
    const { chat_message_ip } = loadConfig({}).abuse.rates;
    expect((chat_message_ip.limit * 60_000) / chat_message_ip.windowMs).toBe(30);
    const guard = new AbuseGuard(new MemoryRateLimiter(), DEFAULT_ABUSE);
    for (let i = 0; i < 5; i++) expect(await guard.refusal(["chat_message_ip", "203.0.113.9"])).toBeNull();
    const sixth = await guard.refusal(["chat_message_ip", "203.0.113.9"]);
    expect(sixth?.rule).toBe("chat_message_ip");
    // The next unit comes back after window/limit = 2 s, not after a minute.
    expect(sixth!.retryAfterS).toBe(2);
  });

  test("RATE_LIMIT_* overrides, TRUSTED_PROXIES and caps are parsed and validated; production refuses RATE_LIMITS=off", () => {
    const c = loadConfig({ RATE_LIMIT_SIGNIN_ACCOUNT: "3/10m", RATE_LIMIT_CHAT_MESSAGE_IP: "50/30s", TRUSTED_PROXIES: "10.0.0.0/8, ::1", MAX_SOCKETS_PER_IP: "5" });
    expect(c.abuse.rates.signin_account).toEqual({ limit: 3, windowMs: 600_000 });
    expect(c.abuse.rates.chat_message_ip).toEqual({ limit: 50, windowMs: 30_000 });
    expect(c.abuse.rates.history_ip).toEqual({ limit: 30, windowMs: 60_000 });
    expect(c.abuse.trustedProxies).toEqual(["10.0.0.0/8", "::1"]);
    expect(c.abuse.socketsPerIp).toBe(5);
    expect(() => loadConfig({ RATE_LIMIT_HISTORY_IP: "lots" })).toThrow(/RATE_LIMIT_HISTORY_IP/);
    expect(() => loadConfig({ TRUSTED_PROXIES: "example.com" })).toThrow(/TRUSTED_PROXIES/);
    expect(() => loadConfig({ APP_ENV: "production", API_KEYS: "ops:ingest:0123456789abcdef", RATE_LIMITS: "off" })).toThrow(/RATE_LIMITS/);
  });

  test("API keys: named and scoped (text or JSON form); plain keys are all-scopes legacy keys, refused in production", () => {
    const text = parseApiKeys("crm:ingest:0123456789abcdef, desk:review+reply:fedcba9876543210");
    expect(text.problems).toEqual([]);
    expect(text.keys).toEqual([
      { name: "crm", scopes: ["ingest"], secret: "0123456789abcdef" },
      { name: "desk", scopes: ["review", "reply"], secret: "fedcba9876543210" },
    ]);
    const json = parseApiKeys(JSON.stringify([{ name: "bot", scopes: ["reply"], secret: "a-secret-with:colons-0123" }]));
    expect(json.keys[0]).toEqual({ name: "bot", scopes: ["reply"], secret: "a-secret-with:colons-0123" });
    expect(parseApiKeys("plain-key-0123456789").keys[0]).toMatchObject({ legacy: true, scopes: ["ingest", "review", "reply"] });
    expect(parseApiKeys("x:admin:0123456789abcdef").problems.join()).toMatch(/scopes/);
    expect(parseApiKeys("a:ingest:0123456789abcdef,a:review:0123456789abcdeg").problems.join()).toMatch(/unique/);
    expect(parseApiKeys("a:ingest:short").problems.join()).toMatch(/16/);
    // Production also requires the data keys (src/privacy): give it a real key file so only the API keys are judged.
    const keys = join(mkdtempSync(join(tmpdir(), "keys-")), "data-keys.json");
    writeFileSync(keys, newKeyFile(), { mode: 0o600 });
    expect(() => loadConfig({ APP_ENV: "production", DATA_KEYS_FILE: keys, API_KEYS: "plain-key-0123456789" })).toThrow(/plain keys/);
    expect(loadConfig({ APP_ENV: "production", DATA_KEYS_FILE: keys, API_KEYS: "crm:ingest:0123456789abcdef" }).apiKeys[0]!.name).toBe("crm");
  });
});
