import { afterAll, describe, expect, test } from "bun:test";
import type { SessionStore } from "../../src/session/interface.ts";
import { MemorySessionStore } from "../../src/session/memory.ts";
import { RedisSessionStore } from "../../src/session/redis.ts";
import { describeWith, rand, services } from "../support/env.ts";

/** The contract every session store passes. */
function contract(make: (maxTurns: number, ttlSeconds: number) => SessionStore, ttlCheck: (s: SessionStore, id: string) => Promise<number | null>) {
  const stores: SessionStore[] = [];
  const open = (maxTurns = 3, ttl = 60) => {
    const s = make(maxTurns, ttl);
    stores.push(s);
    return s;
  };
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  test("an unknown conversation is an empty session", async () => {
    const s = await open().get(`c-${rand()}`);
    expect(s.turns).toEqual([]);
    expect(s.state).toEqual({});
    expect(s.updatedAt).toBeNull();
  });

  test("append keeps order and trims to maxTurns", async () => {
    const store = open(3);
    const id = `c-${rand()}`;
    for (let i = 1; i <= 5; i++) await store.append(id, [{ role: "customer", text: `m${i}`, at: new Date().toISOString() }]);
    const s = await store.get(id);
    expect(s.turns.map((t) => t.text)).toEqual(["m3", "m4", "m5"]);
    expect(s.updatedAt).not.toBeNull();
  });

  test("state merges keys and survives appends", async () => {
    const store = open();
    const id = `c-${rand()}`;
    await store.setState(id, { language: "de", contacts: 1 });
    await store.setState(id, { contacts: 2 });
    await store.append(id, [{ role: "agent", text: "hello", at: new Date().toISOString() }]);
    expect((await store.get(id)).state).toEqual({ language: "de", contacts: 2 });
  });

  test("sessions are isolated and deletable", async () => {
    const store = open();
    const a = `c-${rand()}`;
    const b = `c-${rand()}`;
    await store.append(a, [{ role: "customer", text: "only a", at: new Date().toISOString() }]);
    expect((await store.get(b)).turns).toEqual([]);
    await store.delete(a);
    expect((await store.get(a)).turns).toEqual([]);
  });

  test("writes set a TTL", async () => {
    const store = open(3, 120);
    const id = `c-${rand()}`;
    await store.append(id, [{ role: "customer", text: "x", at: new Date().toISOString() }]);
    const ttl = await ttlCheck(store, id);
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    expect(await store.ping()).toBe(true);
  });
}

describe("MemorySessionStore", () => {
  let now = Date.now();
  contract(
    (maxTurns, ttlSeconds) => new MemorySessionStore({ maxTurns, ttlSeconds }, () => now),
    async (s, id) => {
      // Advance the clock: the entry is alive just before its TTL and gone just after.
      now += 110_000;
      const alive = (await s.get(id)).turns.length > 0;
      now += 20_000;
      const gone = (await s.get(id)).turns.length === 0;
      return alive && gone ? 120 : null;
    },
  );
});

describeWith("redis", "RedisSessionStore (real Redis)", () => {
  const prefix = `test:${rand()}:`;
  contract(
    (maxTurns, ttlSeconds) => new RedisSessionStore(services.redis!, { maxTurns, ttlSeconds }, prefix),
    async (_s, id) => {
      const { default: Redis } = await import("ioredis");
      const r = new Redis(services.redis!);
      const ttl = await r.ttl(`${prefix}${id}:turns`);
      await r.quit();
      return ttl;
    },
  );
});
