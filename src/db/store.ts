import { fileURLToPath } from "node:url";
import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { PgDatabase } from "drizzle-orm/pg-core";
import { AppError } from "../errors.ts";
import { bindCipher, cipherOf, ephemeralCipher, FIELDS, maskPans, maskPansDeep, sealMetadata, type FieldCipher } from "../privacy/index.ts";
import { Value } from "@sinclair/typebox/value";
import { checkContract, checks, objectOf, outputOf, urgencyLevelOf, type ResultEvent, type WorkerFailure } from "../schema/events.ts";
import { customerMessageSchema, type CustomerMessage } from "../schema/message.ts";
import { toWellFormed } from "../schema/text.ts";
import * as schema from "./schema.ts";
import { rowsOf } from "./rows.ts";

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

/** The customer-message contract as stored messages are checked against it (the size limits were applied on the way in). */
const STORED_MESSAGE = customerMessageSchema({ maxTextChars: Number.MAX_SAFE_INTEGER, maxAttachments: 100_000 });

/** Typed columns pulled out of worker outputs for analytics (workers that do not exist yet leave them null). */
function typedColumns(r: ResultEvent) {
  const intent = outputOf(r.outputs, "intent");
  return {
    intent: intent?.label ?? null,
    intentConfidence: intent?.confidence ?? intent?.top?.[0]?.score ?? null,
    sentiment: outputOf(r.outputs, "sentiment")?.label ?? null,
    urgency: urgencyLevelOf(r.outputs),
  };
}

/** The typed columns under their SQL names. */
function typedColumnsSnake(r: ResultEvent) {
  const c = typedColumns(r);
  return { intent: c.intent, intent_confidence: c.intentConfidence, sentiment: c.sentiment, urgency: c.urgency };
}

/** Persistence of the pipeline over drizzle; the same code runs on postgres.js and PGlite. */
export class Store {
  /** Stored rows left out of `loadEvents` / `loadMessages` because they break their contract (src/schema/). */
  invalidRows = 0;

  constructor(
    readonly db: Db,
    readonly kind: "postgres" | "pglite",
    private readonly onClose: () => Promise<void>,
    cipher: FieldCipher = ephemeralCipher(),
  ) {
    bindCipher(db, cipher);
  }

  /** Seals message text and contact fields at rest; every reader of `db` finds the same one with `cipherOf(db)`. */
  get cipher(): FieldCipher {
    return cipherOf(this.db);
  }

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
      const ev = checkContract(checks.resultEvent, {
        type: "message.result",
        message_id: r.messageId,
        conversation_id: r.conversationId,
        source: m.source,
        user: { id: m.customerId, ...(m.customerName ? { name: this.cipher.open(m.customerName, FIELDS.messageName) } : {}) },
        text: this.cipher.open(m.text, FIELDS.messageText),
        received_at: m.receivedAt.toISOString(),
        processed_at: r.createdAt.toISOString(),
        outputs: r.outputs,
        failures: r.failures,
        degraded: r.degraded === 1,
        timings: r.timings,
      }, "stored result");
      // A row that breaks the contract (written by an older or broken version) is counted and left out, not cast.
      if (ev.ok) map.set(r.messageId, ev.value);
      else this.invalidRows++;
    }
    return map;
  }

  /**
   * Persists messages, results and conversation counters in ONE statement (data-modifying CTEs are atomic and cost
   * one round trip); rows that already exist are left untouched. Returns the ids inserted.
   */
  async saveProcessed(items: ProcessedMessage[]): Promise<Set<string>> {
    if (items.length === 0) return new Set();
    const c = this.cipher;
    const rows = items.map(({ message: m, conversationId, result: r }) => ({
      id: m.id,
      conversation_id: conversationId,
      source: m.source,
      customer_id: m.user.id,
      customer_name: c.seal(m.user.name, FIELDS.messageName),
      conversation_name: c.seal(m.user.name, FIELDS.conversationName),
      customer_email: c.seal(m.user.email, FIELDS.messageEmail),
      customer_email_index: m.user.email ? c.blindIndex(m.user.email, "email") : null,
      text: c.seal(m.message.text, FIELDS.messageText),
      attachments: m.message.attachments,
      metadata: sealMetadata(c, maskPansDeep(m.metadata), "seal"),
      received_at: m.metadata.received_at,
      ...typedColumnsSnake(r),
      outputs: r.outputs,
      failures: r.failures,
      degraded: r.degraded ? 1 : 0,
      total_ms: r.timings.total_ms,
      timings: r.timings,
    }));
    const res = await this.wrap(() =>
      this.db.execute<{ id: string }>(sql`
        with input as (
          select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(
            id uuid, conversation_id text, source text, customer_id text, customer_name text, conversation_name text,
            customer_email text, customer_email_index text, text text, attachments jsonb, metadata jsonb, received_at timestamptz, intent text, intent_confidence real,
            sentiment text, urgency text, outputs jsonb, failures jsonb, degraded integer, total_ms real, timings jsonb)
        ),
        new_messages as (
          insert into messages (id, conversation_id, source, customer_id, customer_name, customer_email, customer_email_index, text, attachments, metadata, received_at)
          select id, conversation_id, source, customer_id, customer_name, customer_email, customer_email_index, text, attachments, metadata, received_at from input
          on conflict (id) do nothing
          returning id
        ),
        new_results as (
          insert into results (message_id, conversation_id, channel, intent, intent_confidence, sentiment, urgency, outputs, failures, degraded, total_ms, timings)
          select i.id, i.conversation_id, i.source, i.intent, i.intent_confidence, i.sentiment, i.urgency, i.outputs, i.failures, i.degraded, i.total_ms, i.timings
          from input i join new_messages n on n.id = i.id
          on conflict (message_id) do nothing
        ),
        touched as (
          insert into conversations (id, channel, customer_id, customer_name, message_count, last_message_at)
          select distinct on (i.conversation_id) i.conversation_id, i.source, i.customer_id, i.conversation_name,
            count(*) over (partition by i.conversation_id), max(i.received_at) over (partition by i.conversation_id)
          from input i join new_messages n on n.id = i.id
          order by i.conversation_id, i.received_at
          on conflict (id) do update set
            message_count = conversations.message_count + excluded.message_count,
            last_message_at = greatest(conversations.last_message_at, excluded.last_message_at)
        )
        select id::text as id from new_messages`),
    );
    const list = rowsOf<{ id: string }>(res);
    return new Set(list.map((r) => r.id));
  }

  /** The stored customer messages, in the schema's shape (the drafting stage re-reads what the master validated). */
  async loadMessages(ids: string[]): Promise<Map<string, CustomerMessage>> {
    if (ids.length === 0) return new Map();
    const rows = await this.wrap(() => this.db.select().from(schema.messages).where(inArray(schema.messages.id, ids)));
    const map = new Map<string, CustomerMessage>();
    for (const m of rows) {
      const stored = {
        id: m.id,
        source: m.source,
        user: {
          id: m.customerId,
          ...(m.customerName ? { name: this.cipher.open(m.customerName, FIELDS.messageName) } : {}),
          ...(m.customerEmail ? { email: this.cipher.open(m.customerEmail, FIELDS.messageEmail) } : {}),
        },
        message: { text: this.cipher.open(m.text, FIELDS.messageText), attachments: m.attachments },
        metadata: sealMetadata(this.cipher, objectOf(m.metadata), "open"),
      };
      // Checked against the message contract (without this deployment's size limits: the master applied them).
      if (Value.Check(STORED_MESSAGE, stored)) map.set(m.id, stored);
      else this.invalidRows++;
    }
    return map;
  }

  /**
   * Adds one worker's late output to a stored result (the drafting stage): sets `outputs.<name>`, appends a failure
   * and the timing, unless that output is already there. Returns false when it was (a redelivered draft). `db` is
   * the caller's transaction when the output is stored together with its outbox event.
   */
  async addOutput(messageId: string, name: string, value: unknown, failure: WorkerFailure | null, ms: number, db: Db = this.db): Promise<boolean> {
    const path = `{${name}}`;
    const res = await this.wrap(() =>
      db
        .update(schema.results)
        .set({
          outputs: failure ? sql`${schema.results.outputs}` : sql`jsonb_set(${schema.results.outputs}, ${path}::text[], ${JSON.stringify(value)}::jsonb)`,
          failures: failure ? sql`${schema.results.failures} || ${JSON.stringify([failure])}::jsonb` : sql`${schema.results.failures}`,
          degraded: failure ? 1 : sql`${schema.results.degraded}`,
          timings: sql`jsonb_set(${schema.results.timings}, ${`{workers,${name}}`}::text[], ${JSON.stringify(ms)}::jsonb)`,
        })
        .where(and(eq(schema.results.messageId, messageId), sql`not (${schema.results.outputs} ? ${name})`, sql`not (${schema.results.timings}->'workers' ? ${name})`))
        .returning({ id: schema.results.messageId }),
    );
    return res.length > 0;
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
    const clean = (s: string) => toWellFormed(s.replaceAll("\u0000", "\\u0000"));
    const errors = (x: unknown) => (x === undefined ? null : JSON.parse(JSON.stringify(maskPansDeep(x)), (_k, v) => (typeof v === "string" ? clean(v) : v)));
    await this.wrap(() =>
      this.db.insert(schema.deadLetters).values(rows.map((r) => ({ ...r, key: r.key === null ? null : clean(r.key), reason: clean(r.reason), raw: clean(maskPans(r.raw)), errors: errors(r.errors) }))),
    );
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
      throw dbError(e);
    }
  }
}

/** Opens PostgreSQL (postgres.js) and applies migrations under an advisory lock so replicas can start together. */
export async function openPostgres(url: string, maxConnections = 10, cipher?: FieldCipher): Promise<Store> {
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
  return new Store(db as unknown as Db, "postgres", () => client.end({ timeout: 5 }), cipher);
}

/** Opens the embedded PGlite database (in memory, or in `dir`) and applies the same migrations. */
export async function openPglite(dir: string | null, cipher?: FieldCipher): Promise<Store> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { drizzle } = await import("drizzle-orm/pglite");
  const { migrate } = await import("drizzle-orm/pglite/migrator");
  const client = dir ? new PGlite(dir) : new PGlite();
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder: MIGRATIONS });
  return new Store(db as unknown as Db, "pglite", () => client.close(), cipher);
}

/** The SQLSTATE of a driver error (postgres.js and PGlite put it on `code`; drizzle wraps it in `cause`). */
export function sqlState(e: unknown): string | null {
  for (let x = e as { code?: unknown; cause?: unknown } | undefined, i = 0; x && i < 5; x = x.cause as typeof x, i++) {
    if (typeof x.code === "string" && /^[0-9A-Z]{5}$/.test(x.code)) return x.code;
  }
  return null;
}

/**
 * Classifies a database failure: data errors (class 22, e.g. NUL in jsonb or a date out of range) and integrity
 * violations (class 23) are the record's fault and never heal on retry; everything else (connection loss, 08xxx,
 * 57P01 shutdown, 53xxx resources, 40001 serialisation, timeouts) may succeed later.
 */
export function dbError(e: unknown): AppError {
  if (e instanceof AppError) return e;
  const state = sqlState(e);
  const message = (e as Error)?.message ?? String(e);
  if (state && (state.startsWith("22") || state.startsWith("23"))) {
    return new AppError("db_rejected_data", `database rejected the data (SQLSTATE ${state}): ${message}`, { status: 422, retriable: false, cause: e, details: { sqlstate: state } });
  }
  return new AppError("db_error", `database${state ? ` (SQLSTATE ${state})` : ""}: ${message}`, { status: 503, retriable: true, cause: e });
}
