import { and, desc, eq, gte, inArray, isNotNull, or, sql, type SQL } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import type { ResultEvent } from "../schema/events.ts";
import type { Db } from "../db/store.ts";
import { alerts, labelCorrections, messages, replyDecisions, results, users } from "../db/schema.ts";
import { since, type FeedFilters, type Range } from "./filters.ts";
import { cipherOf, FIELDS, UNREADABLE } from "../privacy/index.ts";
import { EMERGING, emergingTopics } from "./emerging.ts";
import { intentOf, replyOf, sentimentOf } from "./outputs.ts";
import { align, timeline } from "./timeline.ts";
import { rowsOf } from "../db/rows.ts";

/** One line of the live feed. */
export interface FeedItem {
  messageId: string;
  conversationId: string;
  channel: string;
  customerId: string;
  customerName: string | null;
  text: string;
  receivedAt: Date;
  processedAt: Date;
  intent: string | null;
  intentConfidence: number | null;
  sentiment: string | null;
  urgency: string | null;
  degraded: boolean;
  /** approved / edited / rejected once an agent acted, else the reply status from the pipeline (draft, auto_sent...). */
  replyState: string | null;
}

/** Urgency levels that make a ticket stand out. */
export const URGENT = ["high", "critical"];

/** Builds a feed item from a live result event (same shape as the SQL rows). */
export function feedItemFromEvent(ev: ResultEvent, decision: string | null = null): FeedItem {
  const intent = intentOf(ev.outputs);
  const sentiment = sentimentOf(ev.outputs);
  return {
    messageId: ev.message_id,
    conversationId: ev.conversation_id,
    channel: ev.source,
    customerId: ev.user.id,
    customerName: ev.user.name ?? null,
    text: ev.text,
    receivedAt: new Date(ev.received_at),
    processedAt: new Date(ev.processed_at),
    intent: intent?.label ?? null,
    intentConfidence: intent?.confidence ?? null,
    sentiment: sentiment?.label ?? null,
    urgency: sentiment?.urgency ?? null,
    degraded: ev.degraded,
    replyState: decision ?? replyOf(ev.outputs)?.status ?? null,
  };
}

/** A timestamp parameter for raw SQL: postgres.js does not serialise Date objects inside drizzle's sql template. */
const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`;

/** How many of the newest rows a text search decrypts and scans (text is encrypted, so SQL cannot filter on it). */
export const SEARCH_WINDOW = 2000;

/** Read-side queries of the dashboard: plain SQL aggregates over the pipeline's tables. */
export class DashboardQueries {
  constructor(private readonly db: Db) {}

  /** The newest results matching the filters, newest first. */
  async feed(f: FeedFilters, limit = 50): Promise<FeedItem[]> {
    const conds: SQL[] = [];
    const from = since(f.range);
    if (from) conds.push(gte(results.createdAt, from));
    if (f.channel) conds.push(eq(results.channel, f.channel));
    if (f.intent) conds.push(eq(results.intent, f.intent));
    if (f.sentiment) conds.push(eq(results.sentiment, f.sentiment));
    if (f.urgency) conds.push(eq(results.urgency, f.urgency));
    // Text and names are encrypted at rest: a search decrypts the newest SEARCH_WINDOW rows that match the other
    // filters and keeps those whose text, name or customer id contains the term.
    const searching = f.q ? f.q.toLowerCase() : null;
    const rows = await this.db
      .select({
        messageId: results.messageId,
        conversationId: results.conversationId,
        channel: results.channel,
        customerId: messages.customerId,
        customerName: messages.customerName,
        text: messages.text,
        receivedAt: messages.receivedAt,
        processedAt: results.createdAt,
        intent: results.intent,
        intentConfidence: results.intentConfidence,
        sentiment: results.sentiment,
        urgency: results.urgency,
        degraded: results.degraded,
        decision: replyDecisions.action,
        replyStatus: sql<string | null>`${results.outputs}->'reply'->>'status'`,
      })
      .from(results)
      .innerJoin(messages, eq(messages.id, results.messageId))
      .leftJoin(replyDecisions, eq(replyDecisions.messageId, results.messageId))
      .where(conds.length ? and(...conds) : undefined)
      .orderBy(desc(results.createdAt))
      .limit(searching ? SEARCH_WINDOW : limit);
    const c = cipherOf(this.db);
    const items: FeedItem[] = [];
    for (const { decision, replyStatus, degraded, ...r } of rows) {
      // One unreadable row (a retired key) must not take the whole feed down.
      const text = c.openOr(r.text, FIELDS.messageText, UNREADABLE)!;
      const customerName = c.openOr(r.customerName, FIELDS.messageName, UNREADABLE);
      if (searching && !text.toLowerCase().includes(searching) && !(customerName ?? "").toLowerCase().includes(searching) && !r.customerId.toLowerCase().includes(searching)) continue;
      items.push({ ...r, text: text.slice(0, 500), customerName, degraded: degraded === 1, replyState: decision ?? replyStatus });
      if (items.length >= limit) break;
    }
    return items;
  }

  private facetCache: { at: number; value: Promise<{ intents: string[]; sentiments: string[]; urgencies: string[] }> } | null = null;

  /** Distinct values seen recently, for the filter menus and the relabel form; cached for a minute (labels change rarely). */
  facets(): Promise<{ intents: string[]; sentiments: string[]; urgencies: string[] }> {
    if (this.facetCache && Date.now() - this.facetCache.at < 60_000) return this.facetCache.value;
    const value = this.loadFacets();
    this.facetCache = { at: Date.now(), value };
    value.catch(() => (this.facetCache = null));
    return value;
  }

  private async loadFacets(): Promise<{ intents: string[]; sentiments: string[]; urgencies: string[] }> {
    const recent = gte(results.createdAt, new Date(Date.now() - 30 * 86_400_000));
    const pick = async (col: AnyPgColumn) => {
      const rows = await this.db.selectDistinct({ v: col }).from(results).where(and(recent, isNotNull(col))).orderBy(col).limit(100);
      return rows.map((r) => String(r.v)).filter(Boolean);
    };
    const [intents, sentiments, urgencies] = await Promise.all([pick(results.intent), pick(results.sentiment), pick(results.urgency)]);
    return { intents, sentiments, urgencies };
  }

  /** The messages of one conversation (the unit drafts and memory work on), oldest first, each with its result and the agent's decision. */
  async thread(conversationId: string, limit = 200) {
    const where = eq(messages.conversationId, conversationId);
    const rows = await this.db
      .select({ m: messages, r: results, d: replyDecisions })
      .from(messages)
      .leftJoin(results, eq(results.messageId, messages.id))
      .leftJoin(replyDecisions, eq(replyDecisions.messageId, messages.id))
      .where(where)
      .orderBy(desc(messages.receivedAt))
      .limit(limit);
    return rows.reverse();
  }

  /**
   * The same customer's other conversations, newest first: same customer id, or same email address across channels
   * (a chat visitor who gave their address), for the linked list beside a thread.
   */
  async otherConversations(conversationId: string, limit = 20) {
    // Addresses are sealed at rest (src/privacy): the same address is matched on its keyed blind index.
    const who = await this.db
      .select({ id: messages.customerId, email: messages.customerEmailIndex })
      .from(messages)
      .where(eq(messages.conversationId, conversationId))
      .orderBy(sql`${messages.customerEmailIndex} is null`)
      .limit(1);
    const customer = who[0];
    if (!customer) return [];
    const same = customer.email ? or(eq(messages.customerId, customer.id), eq(messages.customerEmailIndex, customer.email))! : eq(messages.customerId, customer.id);
    const rows = await this.db
      .select({
        conversationId: messages.conversationId,
        channel: sql<string>`min(${messages.source})`,
        n: sql<number>`count(*)::int`,
        lastAt: sql<string>`max(${messages.receivedAt})`,
      })
      .from(messages)
      .where(and(same, sql`${messages.conversationId} <> ${conversationId}`))
      .groupBy(messages.conversationId)
      .orderBy(desc(sql`max(${messages.receivedAt})`))
      .limit(limit);
    return rows.map((r) => ({ conversationId: r.conversationId, channel: r.channel, n: Number(r.n), lastAt: new Date(r.lastAt) }));
  }

  /** Label corrections recorded for some messages. */
  async corrections(messageIds: string[]) {
    if (messageIds.length === 0) return [];
    return this.db
      .select({ messageId: labelCorrections.messageId, field: labelCorrections.field, previous: labelCorrections.previous, value: labelCorrections.value, at: labelCorrections.createdAt, by: users.name })
      .from(labelCorrections)
      .leftJoin(users, eq(users.id, labelCorrections.userId))
      .where(inArray(labelCorrections.messageId, messageIds))
      .orderBy(labelCorrections.createdAt);
  }

  /** Every chart and figure of the analytics page, computed in SQL over the chosen range, bucketed to fit it (timeline.ts). */
  async analytics(range: Range, now = Date.now()) {
    const q = <T extends object>(s: SQL) => this.db.execute(s).then((r) => rowsOf<T>(r));
    const [first] = await q<{ at: string | null }>(sql`select min(created_at) as at from results`);
    const firstAt = first?.at ? new Date(first.at).getTime() : null;
    const tl = timeline(range, now, firstAt);
    const from = new Date(tl.from * 1000);
    const step = sql.raw(String(tl.step));
    const recentFrom = new Date(now - EMERGING.recentHours * 3600_000);
    const baselineFrom = new Date(recentFrom.getTime() - EMERGING.maxBaselineHours * 3600_000);
    // One scan of the range feeds volume, sentiment trend, intent mix and the totals; the other figures are small.
    const [cube, ttfr, acceptance, emergingCounts] = await Promise.all([
      q<{ t: number; channel: string; sentiment: string; intent: string; n: number; urgent: number; degraded: number }>(sql`
        select (floor(extract(epoch from created_at) / ${step}) * ${step})::float8 as t, channel, coalesce(sentiment, 'unknown') as sentiment, coalesce(intent, 'unclassified') as intent,
               count(*)::int as n,
               count(*) filter (where urgency in ('high', 'critical'))::int as urgent,
               count(*) filter (where degraded = 1)::int as degraded
        from results where created_at >= ${ts(from)} and created_at <= ${ts(new Date(now))} group by 1, 2, 3, 4`),
      q<{ median_s: number | null; n: number }>(sql`
        with replied as (
          select conversation_id, min(at) as first_reply from (
            select conversation_id, created_at as at from reply_decisions where action in ('approved', 'edited') and created_at >= ${ts(from)}
            union all
            select conversation_id, created_at as at from results where created_at >= ${ts(from)} and outputs->'reply'->>'status' = 'auto_sent'
          ) x group by 1
        ), asked as (
          select conversation_id, min(received_at) as first_msg from messages
          where conversation_id in (select conversation_id from replied) group by 1
        )
        select percentile_cont(0.5) within group (order by extract(epoch from first_reply - first_msg))::float8 as median_s, count(*)::int as n
        from replied join asked using (conversation_id)`),
      q<{ action: string; n: number }>(sql`
        select action, count(*)::int as n from reply_decisions where created_at >= ${ts(from)} group by 1`),
      q<{ intent: string; recent: number; baseline: number }>(sql`
        select intent,
               count(*) filter (where created_at >= ${ts(recentFrom)})::int as recent,
               count(*) filter (where created_at < ${ts(recentFrom)})::int as baseline
        from results where created_at >= ${ts(baselineFrom)} and created_at <= ${ts(new Date(now))} and intent is not null
        group by intent`),
    ]);
    const volume = new Map<string, { t: number; channel: string; n: number }>();
    const sentiment = new Map<string, { t: number; sentiment: string; n: number }>();
    const intents = new Map<string, number>();
    let total = 0;
    let urgent = 0;
    let degraded = 0;
    for (const c of cube) {
      const t = Number(c.t);
      const n = Number(c.n);
      const v = volume.get(`${t}|${c.channel}`) ?? volume.set(`${t}|${c.channel}`, { t, channel: c.channel, n: 0 }).get(`${t}|${c.channel}`)!;
      v.n += n;
      const st = sentiment.get(`${t}|${c.sentiment}`) ?? sentiment.set(`${t}|${c.sentiment}`, { t, sentiment: c.sentiment, n: 0 }).get(`${t}|${c.sentiment}`)!;
      st.n += n;
      intents.set(c.intent, (intents.get(c.intent) ?? 0) + n);
      total += n;
      urgent += Number(c.urgent);
      degraded += Number(c.degraded);
    }
    const byTime = <T extends { t: number }>(m: Map<string, T>) => [...m.values()].sort((a, b) => a.t - b.t);
    const acc = Object.fromEntries(acceptance.map((a) => [a.action, Number(a.n)]));
    const decided = (acc.approved ?? 0) + (acc.edited ?? 0) + (acc.rejected ?? 0);
    const baselineHours = firstAt === null ? 0 : Math.max(0, (recentFrom.getTime() - firstAt) / 3600_000);
    const volumeRows = byTime(volume);
    const sentimentRows = byTime(sentiment);
    return {
      range,
      timeline: tl,
      volume: volumeRows,
      intents: [...intents.entries()].map(([intent, n]) => ({ intent, n })).sort((a, b) => b.n - a.n).slice(0, 12),
      sentiment: sentimentRows,
      /** The two time charts as aligned columns over the whole timeline, empty buckets as zeros. */
      charts: { volume: align(volumeRows, "channel", tl), sentiment: align(sentimentRows, "sentiment", tl) },
      total,
      urgent,
      degraded,
      medianFirstResponseS: ttfr[0]?.median_s === null || ttfr[0]?.median_s === undefined ? null : Number(ttfr[0].median_s),
      acceptance: { approved: acc.approved ?? 0, edited: acc.edited ?? 0, rejected: acc.rejected ?? 0, rate: decided ? ((acc.approved ?? 0) + (acc.edited ?? 0)) / decided : null },
      emerging: emergingTopics(
        emergingCounts.map((e) => ({ intent: e.intent, recent: Number(e.recent), baseline: Number(e.baseline) })),
        baselineHours,
      ),
    };
  }

  /** Per-worker calls, failures and latency percentiles over the last hour, from the persisted timings. */
  async agentActivity(windowMinutes = 60) {
    const from = new Date(Date.now() - windowMinutes * 60_000);
    const q = <T extends object>(s: SQL) => this.db.execute(s).then((r) => rowsOf<T>(r));
    const [latency, failures, lastErrors, dlq] = await Promise.all([
      q<{ worker: string; calls: number; p50: number; p99: number }>(sql`
        select w.key as worker, count(*)::int as calls,
               percentile_cont(0.5) within group (order by w.value::float8)::float8 as p50,
               percentile_cont(0.99) within group (order by w.value::float8)::float8 as p99
        from results, jsonb_each_text(timings->'workers') w
        where created_at >= ${ts(from)} group by 1 order by 1`),
      q<{ worker: string; n: number }>(sql`
        select f->>'worker' as worker, count(*)::int as n
        from results, jsonb_array_elements(failures) f
        where created_at >= ${ts(from)} and degraded = 1 group by 1`),
      q<{ worker: string; code: string; message: string; at: string; message_id: string; conversation_id: string }>(sql`
        select f->>'worker' as worker, f->>'code' as code, f->>'message' as message, created_at as at, message_id, conversation_id
        from results, jsonb_array_elements(failures) f
        where degraded = 1 order by created_at desc limit 10`),
      q<{ n: number; last: string | null }>(sql`select count(*)::int as n, max(created_at) as last from dead_letters where created_at >= ${ts(from)}`),
    ]);
    const failed = new Map(failures.map((f) => [f.worker, Number(f.n)]));
    const workers = new Set([...latency.map((l) => l.worker), ...failed.keys()]);
    return {
      windowMinutes,
      workers: [...workers].sort().map((w) => {
        const l = latency.find((x) => x.worker === w);
        return { worker: w, calls: Number(l?.calls ?? 0), failures: failed.get(w) ?? 0, p50: l ? Number(l.p50) : null, p99: l ? Number(l.p99) : null };
      }),
      lastErrors: lastErrors.map((e) => ({ ...e, at: new Date(e.at) })),
      deadLetters: { n: Number(dlq[0]?.n ?? 0), last: dlq[0]?.last ? new Date(dlq[0].last) : null },
    };
  }

  /** Fired alerts, newest first, with who acknowledged them. */
  async alerts(limit = 100) {
    return this.db
      .select({ a: alerts, ackBy: users.name })
      .from(alerts)
      .leftJoin(users, eq(users.id, alerts.acknowledgedBy))
      .orderBy(desc(alerts.createdAt))
      .limit(limit);
  }

  /** The conversation a message belongs to, or null for an unknown id. */
  async conversationOf(messageId: string): Promise<string | null> {
    const [row] = await this.db.select({ c: messages.conversationId }).from(messages).where(eq(messages.id, messageId)).limit(1);
    return row?.c ?? null;
  }

  /** A processed message's sealed text and current labels, which a label correction records; null if not processed. */
  async labelTarget(messageId: string) {
    const [row] = await this.db
      .select({ text: messages.text, conversationId: messages.conversationId, intent: results.intent, sentiment: results.sentiment, urgency: results.urgency })
      .from(messages)
      .innerJoin(results, eq(results.messageId, messages.id))
      .where(eq(messages.id, messageId))
      .limit(1);
    return row ?? null;
  }

  /** Records an agent's label correction (the text already sealed under the corrections column). */
  async addCorrection(c: typeof labelCorrections.$inferInsert): Promise<void> {
    await this.db.insert(labelCorrections).values(c);
  }

  /** Every label correction in the order they were made (the training export). */
  async allCorrections() {
    return this.db.select().from(labelCorrections).orderBy(labelCorrections.id);
  }
}
