import { eq, inArray, or, sql, type SQL } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import type { EventBus } from "../bus/interface.ts";
import {
  alerts,
  conversations,
  deadLetters,
  emailMessages,
  labelCorrections,
  messages,
  outboundReplies,
  privacyAudit,
  replyDecisions,
  results,
} from "../db/schema.ts";
import type { Db } from "../db/store.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import type { SessionStore } from "../session/interface.ts";
import { checks, parseContract, type PrivacyEvent } from "../schema/events.ts";
import { cipherOf, FIELDS } from "./fields.ts";
import { rowsOf } from "../db/rows.ts";

/** Event on response-events telling every past-ticket index to drop entries (no PII: message ids or a date only). */
export type { PrivacyEvent };

/** Rows removed per table (and session conversations), as written to the audit record. */
export type Counts = Record<string, number>;

/** Dependencies of the privacy operations. */
export interface PrivacyDeps {
  db: Db;
  sessions: SessionStore;
  /** Where past-ticket indexes listen (response-events); null when no index runs (tests, tools). */
  bus: EventBus | null;
  responsesTopic: string;
  log: Logger;
}

const BATCH = 2000;
/** Advisory lock key of the retention purge: one replica purges at a time. */
export const RETENTION_LOCK = 727072;

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Erasure and retention: removes a customer's rows from PostgreSQL, their session memory from Redis and their
 * past tickets from every index (via a privacy event), and records who did it with row counts, never the id.
 */
export class PrivacyService {
  constructor(private readonly d: PrivacyDeps) {}

  /** Erases every trace of one customer (by customer id, or by email address for email customers). */
  async eraseCustomer(customerId: string, actor: string): Promise<{ counts: Counts; auditId: number }> {
    const id = customerId.trim();
    if (!id || id.length > 256) throw new AppError("invalid_customer", "customer id must be 1-256 characters", { status: 422 });
    const cipher = cipherOf(this.d.db);
    const emailIndex = cipher.blindIndex(id, "email");
    const found = await this.d.db
      .select({ id: messages.id, c: messages.conversationId, email: messages.customerEmail })
      .from(messages)
      .where(or(eq(messages.customerId, id), eq(messages.customerEmailIndex, emailIndex)));
    const messageIds = found.map((m) => m.id);
    const convRows = await this.d.db.select({ id: conversations.id }).from(conversations).where(eq(conversations.customerId, id));
    const convs = [...new Set([...found.map((m) => m.c), ...convRows.map((c) => c.id)])];
    // Free-text payloads (dead letters) are matched on the id and on every address the customer wrote from.
    const needles = new Set([id]);
    for (const m of found) if (m.email) needles.add(cipher.open(m.email, FIELDS.messageEmail));
    const inIds = (col: AnyPgColumn, list: string[]): SQL => (list.length ? inArray(col, list) : sql`false`);

    const counts: Counts = {};
    const auditId = await this.d.db.transaction(async (tx) => {
      const del = async (name: string, q: Promise<{ x: unknown }[]>) => {
        counts[name] = (counts[name] ?? 0) + (await q).length;
      };
      await del("label_corrections", tx.delete(labelCorrections).where(inIds(labelCorrections.messageId, messageIds)).returning({ x: labelCorrections.id }));
      await del("reply_decisions", tx.delete(replyDecisions).where(or(inIds(replyDecisions.messageId, messageIds), inIds(replyDecisions.conversationId, convs))).returning({ x: replyDecisions.messageId }));
      await del("alerts", tx.delete(alerts).where(or(inIds(alerts.messageId, messageIds), inIds(alerts.conversationId, convs))).returning({ x: alerts.id }));
      await del("outbound_replies", tx.delete(outboundReplies).where(or(inIds(outboundReplies.messageId, messageIds), inIds(outboundReplies.conversationId, convs))).returning({ x: outboundReplies.id }));
      await del("email_messages", tx.delete(emailMessages).where(or(inIds(emailMessages.conversationId, convs), inIds(emailMessages.copilotMessageId, messageIds))).returning({ x: emailMessages.messageIdHeader }));
      const dlq = [...needles].map((n) => sql`${deadLetters.raw} ilike ${`%${likeEscape(n)}%`}`);
      await del("dead_letters", tx.delete(deadLetters).where(or(inIds(deadLetters.key, convs), ...dlq)).returning({ x: deadLetters.id }));
      await del("results", tx.delete(results).where(inIds(results.messageId, messageIds)).returning({ x: results.messageId }));
      await del("messages", tx.delete(messages).where(inIds(messages.id, messageIds)).returning({ x: messages.id }));
      await del("conversations", tx.delete(conversations).where(or(inIds(conversations.id, convs), eq(conversations.customerId, id))).returning({ x: conversations.id }));
      counts.sessions = convs.length;
      counts.past_tickets = messageIds.length;
      const [row] = await tx.insert(privacyAudit).values({ action: "erase", actor, subjectIndex: cipher.blindIndex(id, "customer"), counts }).returning({ id: privacyAudit.id });
      return row!.id;
    });
    // Sessions and indexes after the commit: a failure here is retried by running the erasure again (idempotent).
    await Promise.all(convs.map((c) => this.d.sessions.delete(c)));
    await this.announce({ type: "privacy.erase", ticket_ids: messageIds, at: new Date().toISOString() });
    this.d.log.info({ component: "privacy", audit: auditId, counts }, "customer erased");
    return { counts, auditId };
  }

  /**
   * Deletes everything older than `days` in batches: messages (with their results, decisions and corrections),
   * alerts, dead letters, outbound replies, email Message-IDs and idle conversations, then tells the past-ticket
   * indexes to drop tickets resolved before the cutoff. Returns null when another replica holds the purge lock.
   */
  async purge(days: number, actor = "retention", now = new Date()): Promise<{ counts: Counts; cutoff: Date } | null> {
    if (!(days > 0)) throw new AppError("bad_options", "retention days must be positive");
    const cutoff = new Date(now.getTime() - days * 86_400_000);
    const at = sql`${cutoff.toISOString()}::timestamptz`;
    const counts: Counts = {};
    const ran = await this.d.db.transaction(async (tx) => {
      const [lock] = rowsOf<{ ok: boolean }>(await tx.execute(sql`select pg_try_advisory_xact_lock(${RETENTION_LOCK}) as ok`));
      if (!lock?.ok) return false;
      const batched = async (name: string, table: string, key: string, where: SQL) => {
        for (;;) {
          const r = rowsOf(await tx.execute(sql`delete from ${sql.identifier(table)} where ${sql.identifier(key)} in (select ${sql.identifier(key)} from ${sql.identifier(table)} where ${where} limit ${BATCH}) returning 1`));
          counts[name] = (counts[name] ?? 0) + r.length;
          if (r.length < BATCH) break;
        }
      };
      // Children first so every count is explicit (the foreign keys would cascade anyway).
      const oldMessages = sql`message_id in (select id from messages where received_at < ${at})`;
      await batched("label_corrections", "label_corrections", "id", sql`${oldMessages} or created_at < ${at}`);
      await batched("reply_decisions", "reply_decisions", "message_id", sql`${oldMessages} or created_at < ${at}`);
      await batched("results", "results", "message_id", sql`${oldMessages} or created_at < ${at}`);
      await batched("messages", "messages", "id", sql`received_at < ${at}`);
      await batched("alerts", "alerts", "id", sql`created_at < ${at}`);
      await batched("dead_letters", "dead_letters", "id", sql`created_at < ${at}`);
      await batched("outbound_replies", "outbound_replies", "id", sql`created_at < ${at}`);
      await batched("email_messages", "email_messages", "message_id_header", sql`created_at < ${at}`);
      await batched("conversations", "conversations", "id", sql`last_message_at < ${at} and not exists (select 1 from messages m where m.conversation_id = conversations.id)`);
      await tx.insert(privacyAudit).values({ action: "retention", actor, counts: { ...counts, days } });
      return true;
    });
    if (!ran) return null;
    await this.announce({ type: "privacy.purge", before: cutoff.toISOString(), at: new Date().toISOString() });
    this.d.log.info({ component: "privacy", days, counts }, "retention purge done");
    return { counts, cutoff };
  }

  /** Runs the purge now and then every `intervalMs`; returns a stop function. Failures are logged, never thrown. */
  startRetention(days: number, intervalMs: number): () => Promise<void> {
    let running: Promise<unknown> = Promise.resolve();
    const tick = () => {
      running = this.purge(days).catch((e) => this.d.log.error({ component: "privacy", err: (e as Error).message }, "retention purge failed"));
    };
    tick();
    const timer = setInterval(tick, intervalMs);
    timer.unref?.();
    return async () => {
      clearInterval(timer);
      await running;
    };
  }

  private async announce(ev: PrivacyEvent): Promise<void> {
    if (!this.d.bus) return;
    if (ev.type === "privacy.erase" && ev.ticket_ids.length === 0) return;
    await this.d.bus.publish(this.d.responsesTopic, [{ key: "privacy", value: JSON.stringify(ev), headers: { kind: ev.type } }]);
  }
}

/** Parses a privacy event from a response-events record; null for any other record (or one breaking the contract). */
export function privacyEvent(raw: string): PrivacyEvent | null {
  const ev = parseContract(checks.privacyEvent, raw, "privacy event");
  if (!ev.ok || (ev.value.type === "privacy.purge" && Number.isNaN(Date.parse(ev.value.before)))) return null;
  return ev.value;
}
