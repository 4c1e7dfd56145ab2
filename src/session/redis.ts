import Redis from "ioredis";
import { AppError } from "../errors.ts";
import { emptySession, parseTurn, type Session, type SessionOptions, type SessionStore, type Turn } from "./interface.ts";

/** The strings of a Redis list reply; anything else in it is dropped. */
const stringsOf = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

/** The string fields of a Redis hash reply (HGETALL); anything else reads as an empty hash. */
const hashOf = (v: unknown): Record<string, string> =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string")) : {};

function jsonOrUndefined(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/**
 * Redis session store: turns in a capped list, state in a hash, both under one TTL per conversation.
 * Every write is one MULTI so history, state and TTL never disagree.
 */
export class RedisSessionStore implements SessionStore {
  readonly kind = "redis";
  private readonly redis: Redis;

  constructor(url: string, private readonly opts: SessionOptions, private readonly prefix = "copilot:session:") {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3, enableOfflineQueue: true });
    this.redis.on("error", () => {
      /* surfaced through ping() and failed commands; ioredis reconnects by itself */
    });
  }

  private keys(id: string) {
    return { turns: `${this.prefix}${id}:turns`, state: `${this.prefix}${id}:state`, meta: `${this.prefix}${id}:meta` };
  }

  private wrap(e: unknown): AppError {
    return new AppError("session_unavailable", `redis: ${(e as Error).message}`, { status: 503, retriable: true, cause: e });
  }

  async get(conversationId: string): Promise<Session> {
    const s = (await this.getMany([conversationId])).get(conversationId)!;
    if (s instanceof AppError) throw s;
    return s;
  }

  /** One MULTI for every conversation's turns, state and meta: consistent, and one round trip for a whole batch. */
  async getMany(conversationIds: string[]): Promise<Map<string, Session | AppError>> {
    const out = new Map<string, Session | AppError>();
    if (conversationIds.length === 0) return out;
    const tx = this.redis.multi();
    for (const id of conversationIds) {
      const k = this.keys(id);
      tx.lrange(k.turns, 0, -1).hgetall(k.state).get(k.meta);
    }
    try {
      const res = await tx.exec();
      if (!res) {
        for (const id of conversationIds) out.set(id, emptySession(id));
        return out;
      }
      conversationIds.forEach((conversationId, i) => {
        const [turnsRes, stateRes, metaRes] = [res[i * 3], res[i * 3 + 1], res[i * 3 + 2]];
        // A key of the wrong type fails its own conversation only, not the batch's.
        const failed = turnsRes?.[0] ?? stateRes?.[0] ?? metaRes?.[0];
        if (failed) {
          out.set(conversationId, this.wrap(failed));
          return;
        }
        const turns = stringsOf(turnsRes?.[1]).flatMap((s) => parseTurn(s) ?? []);
        const state: Record<string, unknown> = {};
        // A value that is not JSON (written by something else) reads as absent; readers check the shapes they use.
        for (const [key, v] of Object.entries(hashOf(stateRes?.[1]))) {
          const parsed = jsonOrUndefined(v);
          if (parsed !== undefined) state[key] = parsed;
        }
        const meta = metaRes?.[1];
        out.set(conversationId, { conversationId, turns, state, updatedAt: typeof meta === "string" ? meta : null });
      });
      return out;
    } catch (e) {
      throw this.wrap(e);
    }
  }

  async append(conversationId: string, turns: Turn[]): Promise<void> {
    await this.appendMany([[conversationId, turns]]);
  }

  /** Every conversation's push, trim and TTL refresh in one MULTI (one round trip for a batch). */
  async appendMany(entries: [conversationId: string, turns: Turn[]][]): Promise<void> {
    const live = entries.filter(([, turns]) => turns.length > 0);
    if (live.length === 0) return;
    const ttl = this.opts.ttlSeconds;
    const now = new Date().toISOString();
    const tx = this.redis.multi();
    for (const [conversationId, turns] of live) {
      const k = this.keys(conversationId);
      tx.rpush(k.turns, ...turns.map((t) => JSON.stringify(t)))
        .ltrim(k.turns, -this.opts.maxTurns, -1)
        .set(k.meta, now, "EX", ttl)
        .expire(k.turns, ttl)
        .expire(k.state, ttl);
    }
    try {
      const res = await tx.exec();
      for (const r of res ?? []) if (r[0]) throw r[0];
    } catch (e) {
      throw this.wrap(e);
    }
  }

  async setState(conversationId: string, patch: Record<string, unknown>): Promise<void> {
    const entries = Object.entries(patch);
    if (entries.length === 0) return;
    const k = this.keys(conversationId);
    const ttl = this.opts.ttlSeconds;
    const flat: string[] = [];
    for (const [key, v] of entries) flat.push(key, JSON.stringify(v));
    try {
      await this.redis.multi().hset(k.state, ...flat).set(k.meta, new Date().toISOString(), "EX", ttl).expire(k.state, ttl).expire(k.turns, ttl).exec();
    } catch (e) {
      throw this.wrap(e);
    }
  }

  async delete(conversationId: string): Promise<void> {
    const k = this.keys(conversationId);
    await this.redis.del(k.turns, k.state, k.meta);
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === "PONG";
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
