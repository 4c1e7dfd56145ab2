import { and, asc, eq, inArray, isNotNull, isNull, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { EventBus, OutRecord } from "../bus/interface.ts";
import type { Db } from "../db/store.ts";
import { outbox } from "../db/schema.ts";
import { AppError, toAppError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import { objectOf } from "../schema/events.ts";

/** One event to publish after the transaction that wrote its state commits. */
export interface OutboxEntry {
  topic: string;
  record: OutRecord;
  /** The customer message whose approved or auto-sent reply this event carries: the sweeper sends it if no hub does. */
  replyMessageId?: string;
}

/** A claimed row whose reply the sweeper must make sure is sent. */
export interface DueReply {
  id: number;
  messageId: string;
  value: string;
}

/** Options of the outbox. */
export interface OutboxOptions {
  /** Names this process in the claim columns (a relay that dies loses its claims when the lease ends). */
  owner: string;
  /** How often the relay looks for rows no writer published. */
  intervalMs: number;
  /** Rows younger than this are left to their writer, which publishes them right after its commit. */
  delayMs: number;
  /** How long a claim holds (relay and sweeper). */
  leaseMs: number;
  /** How long rows of a topic that refused them wait before the relay tries them again. */
  retryBackoffMs: number;
  batchSize: number;
  /** Published rows whose reply (if any) is settled are deleted after this long. */
  keepMs: number;
}

/** Defaults for embedded use and tests. */
export const OUTBOX_DEFAULTS: Omit<OutboxOptions, "owner"> = { intervalMs: 1000, delayMs: 2000, leaseMs: 30_000, retryBackoffMs: 5000, batchSize: 500, keepMs: 24 * 3600_000 };

const leaseEnd = (ms: number): SQL => sql`now() + ${ms} * interval '1 millisecond'`;

/**
 * The transactional outbox: `enqueue` writes events inside the caller's transaction; `flush` publishes given rows
 * right after the commit; the relay loop publishes whatever a writer could not (bus down, crash between commit and
 * publish). Delivery to the bus is at least once: a relay that dies after publishing and before marking re-publishes,
 * so consumers dedupe by message id (the stored row is the truth). Claims use `FOR UPDATE SKIP LOCKED` plus a lease,
 * so replicas relay disjoint rows.
 */
export class Outbox {
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<unknown> | null = null;
  private readonly log: Logger;
  readonly o: OutboxOptions;

  constructor(private readonly db: Db, private readonly bus: EventBus, o: Partial<OutboxOptions> & { owner: string }, log: Logger) {
    this.o = { ...OUTBOX_DEFAULTS, ...o };
    this.log = log.child({ component: "outbox" });
  }

  /** Writes entries in the caller's transaction (or alone); returns their ids for `flush`. */
  async enqueue(tx: Db, entries: OutboxEntry[]): Promise<number[]> {
    if (entries.length === 0) return [];
    const rows = await tx
      .insert(outbox)
      .values(entries.map((e) => ({ topic: e.topic, key: e.record.key, value: e.record.value, headers: e.record.headers ?? {}, replyMessageId: e.replyMessageId ?? null })))
      .returning({ id: outbox.id });
    return rows.map((r) => r.id);
  }

  /**
   * Publishes unpublished rows: the given ids (a writer after its commit), or any row older than `delayMs` (the
   * relay). Never throws: a topic that refuses its rows leaves them, backed off, for a later pass while the other
   * topics' rows go out. Returns the count published.
   */
  async flush(ids?: number[], minAgeMs = this.o.delayMs): Promise<number> {
    if (ids && ids.length === 0) return 0;
    let claimed: (typeof outbox.$inferSelect)[] = [];
    try {
      claimed = await this.claim(ids, minAgeMs);
      if (claimed.length === 0) return 0;
      const byTopic = new Map<string, typeof claimed>();
      for (const r of claimed) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
      // One topic that cannot take records (deleted, unauthorised) must not hold back the others' rows: each topic
      // is published on its own, and a failed topic's rows wait out a back-off before they are claimed again.
      const published: number[] = [];
      const failed: number[] = [];
      let lastError: unknown = null;
      for (const [topic, rows] of byTopic) {
        try {
          await this.bus.publish(topic, rows.map((r) => ({ key: r.key ?? "", value: r.value, headers: headersOf(r.headers) }) satisfies OutRecord));
          published.push(...rows.map((r) => r.id));
        } catch (e) {
          failed.push(...rows.map((r) => r.id));
          lastError = e;
        }
      }
      if (published.length) await this.db.update(outbox).set({ publishedAt: sql`now()`, claimedBy: null, claimedUntil: null }).where(inArray(outbox.id, published));
      if (failed.length) {
        const ae = toAppError(lastError);
        this.log.warn({ code: ae.code, rows: failed.length, err: ae.message }, "outbox rows not published yet; the relay will retry after a back-off");
        await this.db
          .update(outbox)
          .set({ claimedBy: null, claimedUntil: leaseEnd(this.o.retryBackoffMs) })
          .where(and(inArray(outbox.id, failed), eq(outbox.claimedBy, this.o.owner)))
          .catch(() => {});
      }
      return published.length;
    } catch (e) {
      const ae = toAppError(e);
      this.log.warn({ code: ae.code, rows: claimed.length, err: ae.message }, "outbox rows not published yet; the relay will retry");
      if (claimed.length) await this.release(claimed.map((r) => r.id)).catch(() => {});
      return 0;
    }
  }

  /** Publishes everything pending now, batch after batch (shutdown, tests). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.flushDue(0);
      total += n;
      if (n < this.o.batchSize) return total;
    }
  }

  /** Starts the relay loop. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.flushDue(this.o.delayMs).finally(() => (this.running = null));
    }, this.o.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Rows not yet published (for readiness figures and tests). */
  async pending(): Promise<number> {
    const rows = await this.db.select({ n: sql<number>`count(*)::int` }).from(outbox).where(isNull(outbox.publishedAt));
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Claims reply rows older than `graceMs` whose reply no one confirmed, for `leaseMs`; two sweepers never get the
   * same row while the lease holds (and the reply log's idempotency key stops a second send after it).
   */
  async claimDueReplies(graceMs: number, limit: number): Promise<DueReply[]> {
    const due = this.db
      .select({ id: outbox.id })
      .from(outbox)
      .where(
        and(
          isNotNull(outbox.replyMessageId),
          isNull(outbox.replyDoneAt),
          lt(outbox.createdAt, sql`now() - ${graceMs} * interval '1 millisecond'`),
          or(isNull(outbox.replyClaimedUntil), lt(outbox.replyClaimedUntil, sql`now()`)),
        ),
      )
      .orderBy(asc(outbox.id))
      .limit(limit)
      .for("update", { skipLocked: true });
    const rows = await this.wrap(() =>
      this.db
        .update(outbox)
        .set({ replyClaimedBy: this.o.owner, replyClaimedUntil: leaseEnd(this.o.leaseMs) })
        .where(inArray(outbox.id, due))
        .returning({ id: outbox.id, messageId: outbox.replyMessageId, value: outbox.value }),
    );
    return rows.sort((a, b) => a.id - b.id).map((r) => ({ id: r.id, messageId: r.messageId!, value: r.value }));
  }

  /** Marks the reply of these rows (by row id) or of this message (every row carrying it) as handled. */
  async replyDone(where: { ids?: number[]; messageId?: string }): Promise<void> {
    const cond = where.ids ? inArray(outbox.id, where.ids) : where.messageId ? eq(outbox.replyMessageId, where.messageId) : null;
    if (!cond || (where.ids && where.ids.length === 0)) return;
    await this.wrap(() => this.db.update(outbox).set({ replyDoneAt: sql`now()`, replyClaimedBy: null, replyClaimedUntil: null }).where(and(cond, isNull(outbox.replyDoneAt))));
  }

  /** Gives a reply claim back (the send failed in a way worth retrying); the next sweep picks it up. */
  async releaseReply(id: number): Promise<void> {
    await this.wrap(() => this.db.update(outbox).set({ replyClaimedBy: null, replyClaimedUntil: null }).where(and(eq(outbox.id, id), eq(outbox.replyClaimedBy, this.o.owner))));
  }

  private lastPrune = 0;

  private async flushDue(minAgeMs: number): Promise<number> {
    const n = await this.flush(undefined, minAgeMs);
    if (Date.now() - this.lastPrune > 60_000) {
      this.lastPrune = Date.now();
      await this.prune().catch((e) => this.log.warn({ code: toAppError(e).code }, "outbox prune failed"));
    }
    return n;
  }

  /** Deletes rows that are published, settled (no reply, or its reply handled) and older than `keepMs`. */
  async prune(): Promise<number> {
    const rows = await this.wrap(() =>
      this.db
        .delete(outbox)
        .where(and(lt(outbox.publishedAt, sql`now() - ${this.o.keepMs} * interval '1 millisecond'`), or(isNull(outbox.replyMessageId), isNotNull(outbox.replyDoneAt))))
        .returning({ id: outbox.id }),
    );
    return rows.length;
  }

  private async claim(ids: number[] | undefined, minAgeMs: number): Promise<(typeof outbox.$inferSelect)[]> {
    const conds: SQL[] = [isNull(outbox.publishedAt), or(isNull(outbox.claimedUntil), lt(outbox.claimedUntil, sql`now()`))!];
    if (ids) conds.push(inArray(outbox.id, ids));
    else conds.push(lte(outbox.createdAt, sql`now() - ${minAgeMs} * interval '1 millisecond'`));
    const sub = this.db
      .select({ id: outbox.id })
      .from(outbox)
      .where(and(...conds))
      .orderBy(asc(outbox.id))
      .limit(this.o.batchSize)
      .for("update", { skipLocked: true });
    const rows = await this.wrap(() =>
      this.db.update(outbox).set({ claimedBy: this.o.owner, claimedUntil: leaseEnd(this.o.leaseMs) }).where(inArray(outbox.id, sub)).returning(),
    );
    return rows.sort((a, b) => a.id - b.id);
  }

  private async release(ids: number[]): Promise<void> {
    await this.db.update(outbox).set({ claimedBy: null, claimedUntil: null }).where(and(inArray(outbox.id, ids), eq(outbox.claimedBy, this.o.owner)));
  }

  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof AppError) throw e;
      throw new AppError("db_error", `database: ${(e as Error).message}`, { status: 503, retriable: true, cause: e });
    }
  }
}

/** Stored record headers (a JSON object of strings); anything else is dropped rather than cast. */
function headersOf(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(objectOf(v))) if (typeof x === "string") out[k] = x;
  return out;
}
