import type { Static, TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { and, eq, inArray, isNotNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "../db/store.ts";
import { channelCheckpoints, emailMessages, messages, outboundReplies, webhookDeliveries } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { cipherOf, FIELDS, sealMetadata } from "../privacy/index.ts";
import { objectOf } from "../schema/events.ts";

/** One email known to the copilot, inbound or outbound. */
export interface EmailRow {
  messageIdHeader: string;
  conversationId: string;
  direction: "inbound" | "outbound";
  copilotMessageId?: string | null;
  mailbox?: string | null;
  uid?: number | null;
  status?: string;
  /** Blind index of the sender address (inbound), from `senderIndex()`. */
  senderIndex?: string | null;
}

/** Row of `outbound_replies`. */
export type ReplyRow = typeof outboundReplies.$inferSelect;

/**
 * Channel persistence over drizzle (same code on PostgreSQL and PGlite): leased checkpoints, the email
 * Message-ID index used for dedupe and threading, webhook replay records and the outbound reply log.
 */
export class ChannelStore {
  constructor(readonly db: Db) {}

  /**
   * Takes or renews the lease on a checkpoint key. Returns false while another live owner holds it, so two
   * replicas never read the same mailbox or API cursor at once.
   */
  async acquireLease(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const until = new Date(Date.now() + ttlMs);
    const rows = await this.wrap(() =>
      this.db
        .insert(channelCheckpoints)
        .values({ key, owner, leaseUntil: until })
        .onConflictDoUpdate({
          target: channelCheckpoints.key,
          set: { owner, leaseUntil: until },
          setWhere: or(sql`${channelCheckpoints.leaseUntil} is null`, lt(channelCheckpoints.leaseUntil, sql`now()`), eq(channelCheckpoints.owner, owner)),
        })
        .returning({ owner: channelCheckpoints.owner }),
    );
    return rows.length === 1 && rows[0]!.owner === owner;
  }

  /** Gives the lease up (on clean shutdown) so another replica can take over at once. */
  async releaseLease(key: string, owner: string): Promise<void> {
    await this.wrap(() =>
      this.db.update(channelCheckpoints).set({ owner: null, leaseUntil: null }).where(and(eq(channelCheckpoints.key, key), eq(channelCheckpoints.owner, owner))),
    );
  }

  /** Reads a checkpoint value checked against its shape (null when none was saved, or one of another shape: start over). */
  async readCheckpoint<T extends TSchema>(key: string, schema: T): Promise<Static<T> | null> {
    const rows = await this.wrap(() => this.db.select({ value: channelCheckpoints.value }).from(channelCheckpoints).where(eq(channelCheckpoints.key, key)));
    const v: unknown = rows[0]?.value;
    return Value.Check(schema, v) ? v : null;
  }

  /** Saves a checkpoint without a lease (sources that run in one place only, and tests). */
  async writeCheckpoint(key: string, value: unknown): Promise<void> {
    await this.wrap(() =>
      this.db
        .insert(channelCheckpoints)
        .values({ key, value })
        .onConflictDoUpdate({ target: channelCheckpoints.key, set: { value, updatedAt: new Date() } }),
    );
  }

  /**
   * Records a batch of inbound mails and advances the mailbox checkpoint in one transaction, fenced by the lease:
   * if another owner took the mailbox meanwhile, nothing is written and false comes back.
   */
  async commitEmailBatch(key: string, owner: string, checkpoint: unknown, rows: EmailRow[]): Promise<boolean> {
    return this.wrap(() =>
      this.db.transaction(async (tx) => {
        const upd = await tx
          .update(channelCheckpoints)
          .set({ value: checkpoint, updatedAt: new Date() })
          .where(and(eq(channelCheckpoints.key, key), eq(channelCheckpoints.owner, owner)))
          .returning({ key: channelCheckpoints.key });
        if (upd.length === 0) {
          tx.rollback();
        }
        if (rows.length) await tx.insert(emailMessages).values(rows.map(emailValues)).onConflictDoNothing();
        return true;
      }),
    ).catch((e) => {
      if (isRollback(e)) return false;
      throw e;
    });
  }

  /** Saves a checkpoint only while `owner` holds its lease; false means the lease was lost and nothing was written. */
  async commitCheckpoint(key: string, owner: string, value: unknown): Promise<boolean> {
    const rows = await this.wrap(() =>
      this.db
        .update(channelCheckpoints)
        .set({ value, updatedAt: new Date() })
        .where(and(eq(channelCheckpoints.key, key), eq(channelCheckpoints.owner, owner)))
        .returning({ key: channelCheckpoints.key }),
    );
    return rows.length === 1;
  }

  /** Records emails (outbound replies, or inbound outside a mailbox sync); existing Message-IDs are kept. */
  async recordEmails(rows: EmailRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.wrap(() => this.db.insert(emailMessages).values(rows.map(emailValues)).onConflictDoNothing());
  }

  /** Which of these Message-IDs are already known, with their conversation. */
  async knownEmails(messageIds: string[]): Promise<Map<string, { conversationId: string; direction: string }>> {
    const ids = [...new Set(messageIds.filter(Boolean))];
    if (ids.length === 0) return new Map();
    const rows = await this.wrap(() =>
      this.db
        .select({ id: emailMessages.messageIdHeader, conversationId: emailMessages.conversationId, direction: emailMessages.direction })
        .from(emailMessages)
        .where(inArray(emailMessages.messageIdHeader, ids)),
    );
    return new Map(rows.map((r) => [r.id, { conversationId: r.conversationId, direction: r.direction }]));
  }

  /** The keyed blind index of a sender address: thread participation is checked without storing the address. */
  senderIndex(address: string): string {
    return cipherOf(this.db).blindIndex(address, "email");
  }

  /** The sender indexes of the inbound mail of each conversation (who takes part in each thread). */
  async threadParticipants(conversationIds: string[]): Promise<Map<string, Set<string>>> {
    const ids = [...new Set(conversationIds)];
    const out = new Map<string, Set<string>>();
    if (ids.length === 0) return out;
    const rows = await this.wrap(() =>
      this.db
        .select({ c: emailMessages.conversationId, s: emailMessages.senderIndex })
        .from(emailMessages)
        .where(and(inArray(emailMessages.conversationId, ids), eq(emailMessages.direction, "inbound"), isNotNull(emailMessages.senderIndex))),
    );
    for (const r of rows) (out.get(r.c) ?? out.set(r.c, new Set()).get(r.c)!).add(r.s!);
    return out;
  }

  /** Records a webhook delivery key; false when it was already seen (a replay). Old keys are pruned on the way. */
  async firstDelivery(key: string, keepMs: number): Promise<boolean> {
    const rows = await this.wrap(() => this.db.insert(webhookDeliveries).values({ key }).onConflictDoNothing().returning({ key: webhookDeliveries.key }));
    if (Math.random() < 0.05) {
      await this.wrap(() => this.db.delete(webhookDeliveries).where(lt(webhookDeliveries.createdAt, new Date(Date.now() - keepMs))));
    }
    return rows.length === 1;
  }

  /** Forgets a delivery key whose message could not be published, so the sender's retry is accepted. */
  async forgetDelivery(key: string): Promise<void> {
    await this.wrap(() => this.db.delete(webhookDeliveries).where(eq(webhookDeliveries.key, key)));
  }

  /** Inserts a reply unless its idempotency key exists; returns the stored row either way and whether it is new. */
  async createReply(row: typeof outboundReplies.$inferInsert): Promise<{ row: ReplyRow; created: boolean }> {
    const inserted = await this.wrap(() => this.db.insert(outboundReplies).values(row).onConflictDoNothing().returning());
    if (inserted[0]) return { row: inserted[0], created: true };
    const existing = await this.replyByKey(row.idempotencyKey);
    if (!existing) throw new AppError("reply_conflict", "reply id collides with another idempotency key", { status: 409 });
    return { row: existing, created: false };
  }

  async replyByKey(key: string): Promise<ReplyRow | null> {
    const rows = await this.wrap(() => this.db.select().from(outboundReplies).where(eq(outboundReplies.idempotencyKey, key)));
    return rows[0] ?? null;
  }

  async replyById(id: string): Promise<ReplyRow | null> {
    const rows = await this.wrap(() => this.db.select().from(outboundReplies).where(eq(outboundReplies.id, id)));
    return rows[0] ?? null;
  }

  /** Replies of one conversation, oldest first (for the dashboard and audits). */
  async repliesOf(conversationId: string): Promise<ReplyRow[]> {
    return this.wrap(() => this.db.select().from(outboundReplies).where(eq(outboundReplies.conversationId, conversationId)).orderBy(outboundReplies.createdAt));
  }

  /**
   * Atomically moves a reply from a sendable state to `sending` and counts the attempt; only one caller wins,
   * which is what keeps concurrent retries and replicas from sending twice.
   */
  async claimReply(id: string): Promise<ReplyRow | null> {
    const rows = await this.wrap(() =>
      this.db
        .update(outboundReplies)
        .set({ status: "sending", attempts: sql`${outboundReplies.attempts} + 1`, updatedAt: new Date() })
        .where(and(eq(outboundReplies.id, id), inArray(outboundReplies.status, ["pending", "retry"])))
        .returning(),
    );
    return rows[0] ?? null;
  }

  /** Records the outcome of one send attempt. */
  async finishReply(id: string, set: Partial<Pick<ReplyRow, "status" | "lastError" | "externalId" | "nextAttemptAt" | "sentAt">>): Promise<ReplyRow | null> {
    const rows = await this.wrap(() =>
      this.db
        .update(outboundReplies)
        .set({ ...set, updatedAt: new Date() })
        .where(eq(outboundReplies.id, id))
        .returning(),
    );
    return rows[0] ?? null;
  }

  /** Replies whose retry time has come, and replies left `pending` by a process that stopped before its first attempt. */
  async dueReplies(now: Date, limit = 50, pendingGraceMs = 30_000): Promise<ReplyRow[]> {
    return this.wrap(() =>
      this.db
        .select()
        .from(outboundReplies)
        .where(
          or(
            and(eq(outboundReplies.status, "retry"), lt(outboundReplies.nextAttemptAt, now)),
            and(eq(outboundReplies.status, "pending"), lt(outboundReplies.createdAt, new Date(now.getTime() - pendingGraceMs))),
          ),
        )
        .orderBy(outboundReplies.nextAttemptAt)
        .limit(limit),
    );
  }

  /**
   * Replies left in `sending` by a crashed process: the send may or may not have happened, so they become
   * `unknown` for a person to check instead of being sent again.
   */
  async abandonStale(olderThan: Date): Promise<number> {
    const rows = await this.wrap(() =>
      this.db
        .update(outboundReplies)
        .set({ status: "unknown", lastError: "process stopped while sending; delivery not confirmed", updatedAt: new Date() })
        .where(and(eq(outboundReplies.status, "sending"), lt(outboundReplies.updatedAt, olderThan)))
        .returning({ id: outboundReplies.id }),
    );
    return rows.length;
  }

  /** The persisted customer message (written by the master) a reply answers. */
  async loadMessage(id: string): Promise<{ id: string; conversationId: string; source: string; customerId: string; customerName: string | null; customerEmail: string | null; text: string; metadata: Record<string, unknown> } | null> {
    const rows = await this.wrap(() => this.db.select().from(messages).where(eq(messages.id, id)));
    const r = rows[0];
    if (!r) return null;
    const c = cipherOf(this.db);
    return {
      id: r.id,
      conversationId: r.conversationId,
      source: r.source,
      customerId: r.customerId,
      customerName: c.open(r.customerName, FIELDS.messageName),
      customerEmail: c.open(r.customerEmail, FIELDS.messageEmail),
      text: c.open(r.text, FIELDS.messageText),
      metadata: sealMetadata(c, objectOf(r.metadata), "open"),
    };
  }

  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof AppError || isRollback(e)) throw e;
      throw new AppError("db_error", `database: ${(e as Error).message}`, { status: 503, retriable: true, cause: e });
    }
  }
}

function emailValues(r: EmailRow) {
  return {
    messageIdHeader: r.messageIdHeader,
    conversationId: r.conversationId,
    direction: r.direction,
    copilotMessageId: r.copilotMessageId ?? null,
    mailbox: r.mailbox ?? null,
    uid: r.uid ?? null,
    status: r.status ?? "published",
    senderIndex: r.senderIndex ?? null,
  };
}

function isRollback(e: unknown): boolean {
  return !!e && typeof e === "object" && (e as Error).name === "TransactionRollbackError";
}
