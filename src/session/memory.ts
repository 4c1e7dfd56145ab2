import type { AppError } from "../errors.ts";
import { emptySession, type Session, type SessionOptions, type SessionStore, type Turn } from "./interface.ts";

interface Entry {
  session: Session;
  expiresAt: number;
}

/** Embedded session store: a Map with per-entry TTL, swept lazily and on a timer. */
export class MemorySessionStore implements SessionStore {
  readonly kind = "memory";
  private readonly map = new Map<string, Entry>();
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(private readonly opts: SessionOptions, private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref?.();
  }

  private live(id: string): Entry | undefined {
    const e = this.map.get(id);
    if (e && e.expiresAt <= this.now()) {
      this.map.delete(id);
      return undefined;
    }
    return e;
  }

  private touch(id: string): Entry {
    const e = this.live(id) ?? { session: emptySession(id), expiresAt: 0 };
    e.expiresAt = this.now() + this.opts.ttlSeconds * 1000;
    e.session.updatedAt = new Date(this.now()).toISOString();
    this.map.set(id, e);
    return e;
  }

  async get(conversationId: string): Promise<Session> {
    const e = this.live(conversationId);
    return e ? structuredClone(e.session) : emptySession(conversationId);
  }

  async append(conversationId: string, turns: Turn[]): Promise<void> {
    const e = this.touch(conversationId);
    e.session.turns.push(...structuredClone(turns));
    if (e.session.turns.length > this.opts.maxTurns) e.session.turns.splice(0, e.session.turns.length - this.opts.maxTurns);
  }

  async getMany(conversationIds: string[]): Promise<Map<string, Session | AppError>> {
    return new Map(await Promise.all(conversationIds.map(async (c) => [c, await this.get(c)] as const)));
  }

  async appendMany(entries: [conversationId: string, turns: Turn[]][]): Promise<void> {
    for (const [c, turns] of entries) await this.append(c, turns);
  }

  async setState(conversationId: string, patch: Record<string, unknown>): Promise<void> {
    const e = this.touch(conversationId);
    Object.assign(e.session.state, structuredClone(patch));
  }

  async delete(conversationId: string): Promise<void> {
    this.map.delete(conversationId);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, e] of this.map) if (e.expiresAt <= t) this.map.delete(k);
  }
}
