import { afterAll, describe, expect, test } from "bun:test";
import type { Session, SessionStore } from "../../src/session/interface.ts";
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

  test("getMany / appendMany read and write several conversations at once, like get / append", async () => {
    const store = open(3);
    const [a, b, c] = [`c-${rand()}`, `c-${rand()}`, `c-${rand()}`];
    await store.setState(a, { language: "de" });
    const at = new Date().toISOString();
    await store.appendMany!([
      [a, [{ role: "customer", text: "a1", at }, { role: "customer", text: "a2", at }]],
      [b, [{ role: "customer", text: "b1", at }]],
      [c, []],
    ]);
    await store.appendMany!([[a, [{ role: "customer", text: "a3", at }, { role: "customer", text: "a4", at }]]]);
    const got = await store.getMany!([a, b, c]);
    const sa = got.get(a) as Session;
    expect(sa.turns.map((t) => t.text)).toEqual(["a2", "a3", "a4"]);
    expect(sa.state).toEqual({ language: "de" });
    expect((got.get(b) as Session).turns.map((t) => t.text)).toEqual(["b1"]);
    expect((got.get(c) as Session).turns).toEqual([]);
    expect(await store.get(a)).toEqual(sa);
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

  test("getMany: a key of the wrong type fails its own conversation, not the others of the batch", async () => {
    const store = new RedisSessionStore(services.redis!, { maxTurns: 3, ttlSeconds: 60 }, prefix);
    const { default: Redis } = await import("ioredis");
    const r = new Redis(services.redis!);
    try {
      const [bad, good] = [`c-${rand()}`, `c-${rand()}`];
      await r.set(`${prefix}${bad}:turns`, "not a list");
      await store.append(good, [{ role: "customer", text: "fine", at: new Date().toISOString() }]);
      const got = await store.getMany([bad, good]);
      expect(got.get(bad)).toBeInstanceOf(Error);
      expect((got.get(good) as Session).turns.map((t) => t.text)).toEqual(["fine"]);
      await expect(store.get(bad)).rejects.toMatchObject({ code: "session_unavailable" });
    } finally {
      await r.quit();
      await store.close();
    }
  });
});
