import { fileURLToPath } from "node:url";
import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { PgDatabase } from "drizzle-orm/pg-core";
import type { ResultEvent } from "../agents/types.ts";
import { AppError } from "../errors.ts";
import type { CustomerMessage } from "../schema/message.ts";
import * as schema from "./schema.ts";

/** Folder of the drizzle-kit migrations shared by PostgreSQL and PGlite. */
export const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

// biome-ignore lint: drizzle's query-result HKT differs between drivers; both are PgDatabase.
export type Db = PgDatabase<any, typeof schema>;

/** A processed message ready to persist. */
export interface ProcessedMessage {
  message: CustomerMessage;
  conversationId: string;
  result: ResultEvent;
}

/** A record that goes to the dead-letter table. */
export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  reason: string;
  errors?: unknown;
  raw: string;
}

/** Typed columns pulled out of worker outputs for analytics (workers that do not exist yet leave them null). */
function typedColumns(r: ResultEvent) {
  const intent = r.outputs.intent as { label?: string; top?: { label: string; score: number }[]; confidence?: number } | undefined;
  const sentiment = r.outputs.sentiment as { label?: string; urgency?: { level?: string } | string } | undefined;
  const urgency = typeof sentiment?.urgency === "string" ? sentiment.urgency : sentiment?.urgency?.level;
  return {
    intent: intent?.label ?? null,
    intentConfidence: intent?.confidence ?? intent?.top?.[0]?.score ?? null,
    sentiment: sentiment?.label ?? null,
    urgency: urgency ?? null,
  };
}

/** Persistence of the pipeline over drizzle; the same code runs on postgres.js and PGlite. */
export class Store {
  constructor(readonly db: Db, readonly kind: "postgres" | "pglite", private readonly onClose: () => Promise<void>) {}

  /** Which of these message ids already have a result, and whether that result was published. */
  async existing(ids: string[]): Promise<Map<string, { published: boolean }>> {
    if (ids.length === 0) return new Map();
    const rows = await this.wrap(() =>
      this.db.select({ id: schema.results.messageId, publishedAt: schema.results.publishedAt }).from(schema.results).where(inArray(schema.results.messageId, ids)),
    );
    return new Map(rows.map((r) => [r.id, { published: r.publishedAt !== null }]));
  }

  /** Rebuilds result events from rows (used to re-publish after a crash between persist and publish). */
  async loadEvents(ids: string[]): Promise<Map<string, ResultEvent>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .select()
      .from(schema.results)
      .innerJoin(schema.messages, eq(schema.messages.id, schema.results.messageId))
      .where(inArray(schema.results.messageId, ids));
    const map = new Map<string, ResultEvent>();
    for (const { results: r, messages: m } of rows) {
      map.set(r.messageId, {
        type: "message.result",
        message_id: r.messageId,
        conversation_id: r.conversationId,
        source: m.source as ResultEvent["source"],
        user: { id: m.customerId, ...(m.customerName ? { name: m.customerName } : {}) },
        text: m.text,
        received_at: m.receivedAt.toISOString(),
        processed_at: r.createdAt.toISOString(),
        outputs: r.outputs as Record<string, unknown>,
        failures: r.failures as ResultEvent["failures"],
        degraded: r.degraded === 1,
        timings: r.timings as ResultEvent["timings"],
      });
    }
    return map;
  }

  /** Persists messages and results in one transaction; rows that already exist are left untouched. Returns the ids inserted. */
  async saveProcessed(items: ProcessedMessage[]): Promise<Set<string>> {
    if (items.length === 0) return new Set();
    const perConversation = new Map<string, { item: ProcessedMessage; count: number; last: Date }>();
    for (const it of items) {
      const at = new Date(it.message.metadata.received_at);
      const c = perConversation.get(it.conversationId);
      if (c) {
        c.count++;
        if (at > c.last) c.last = at;
      } else perConversation.set(it.conversationId, { item: it, count: 1, last: at });
    }
    return this.wrap(() =>
      this.db.transaction(async (tx) => {
        const inserted = await tx
          .insert(schema.messages)
          .values(
            items.map(({ message: m, conversationId }) => ({
              id: m.id,
              conversationId,
              source: m.source,
              customerId: m.user.id,
              customerName: m.user.name ?? null,
              customerEmail: m.user.email ?? null,
              text: m.message.text,
              attachments: m.message.attachments,
              metadata: m.metadata,
              receivedAt: new Date(m.metadata.received_at),
            })),
          )
          .onConflictDoNothing()
          .returning({ id: schema.messages.id });
        const fresh = new Set(inserted.map((r) => r.id));
        if (fresh.size === 0) return fresh;
        const newItems = items.filter((i) => fresh.has(i.message.id));
        await tx
          .insert(schema.results)
          .values(
            newItems.map(({ result: r, conversationId }) => ({
              messageId: r.message_id,
              conversationId,
              channel: r.source,
              ...typedColumns(r),
              outputs: r.outputs,
              failures: r.failures,
              degraded: r.degraded ? 1 : 0,
              totalMs: r.timings.total_ms,
              timings: r.timings,
            })),
          )
          .onConflictDoNothing();
        const convs = [...perConversation.entries()]
          .map(([id, c]) => ({ id, c: { ...c, count: newItems.filter((i) => i.conversationId === id).length } }))
          .filter(({ c }) => c.count > 0);
        if (convs.length) {
          await tx
            .insert(schema.conversations)
            .values(
              convs.map(({ id, c }) => ({
                id,
                channel: c.item.message.source,
                customerId: c.item.message.user.id,
                customerName: c.item.message.user.name ?? null,
                messageCount: c.count,
                lastMessageAt: c.last,
              })),
            )
            .onConflictDoUpdate({
              target: schema.conversations.id,
              set: {
                messageCount: sql`${schema.conversations.messageCount} + excluded.message_count`,
                lastMessageAt: sql`greatest(${schema.conversations.lastMessageAt}, excluded.last_message_at)`,
              },
            });
        }
        return fresh;
      }),
    );
  }

  /** Marks results as published on response-events. */
  async markPublished(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.wrap(() =>
      this.db.update(schema.results).set({ publishedAt: new Date() }).where(and(inArray(schema.results.messageId, ids), isNull(schema.results.publishedAt))),
    );
  }

  /** Records a dead letter (the DLQ topic has it too; the table is what the dashboard shows). */
  async saveDeadLetters(rows: DeadLetter[]): Promise<void> {
    if (rows.length === 0) return;
    await this.wrap(() => this.db.insert(schema.deadLetters).values(rows.map((r) => ({ ...r, errors: r.errors ?? null }))));
  }

  async ping(): Promise<boolean> {
    try {
      await this.db.execute(sql`select 1`);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.onClose();
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

/** Opens PostgreSQL (postgres.js) and applies migrations under an advisory lock so replicas can start together. */
export async function openPostgres(url: string, maxConnections = 10): Promise<Store> {
  const { default: postgres } = await import("postgres");
  const { drizzle } = await import("drizzle-orm/postgres-js");
  const { migrate } = await import("drizzle-orm/postgres-js/migrator");
  const client = postgres(url, { max: maxConnections, onnotice: () => {}, connect_timeout: 10 });
  const db = drizzle(client, { schema });
  const lock = await client.reserve();
  try {
    await lock`select pg_advisory_lock(727071)`;
    await migrate(db, { migrationsFolder: MIGRATIONS });
    await lock`select pg_advisory_unlock(727071)`;
  } catch (e) {
    await client.end({ timeout: 1 });
    throw new AppError("db_unavailable", `postgres: ${(e as Error).message}`, { status: 503, retriable: true, cause: e });
  } finally {
    lock.release();
  }
  return new Store(db as unknown as Db, "postgres", () => client.end({ timeout: 5 }));
}

/** Opens the embedded PGlite database (in memory, or in `dir`) and applies the same migrations. */
export async function openPglite(dir: string | null): Promise<Store> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { drizzle } = await import("drizzle-orm/pglite");
  const { migrate } = await import("drizzle-orm/pglite/migrator");
  const client = dir ? new PGlite(dir) : new PGlite();
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder: MIGRATIONS });
  return new Store(db as unknown as Db, "pglite", () => client.close());
}
