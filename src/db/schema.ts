import { sql } from "drizzle-orm";
import { bigserial, index, integer, jsonb, pgTable, real, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** One row per conversation (email thread, chat session, social thread). */
export const conversations = pgTable(
  "conversations",
  {
    id: text("id").primaryKey(),
    channel: text("channel").notNull(),
    customerId: text("customer_id").notNull(),
    customerName: text("customer_name"),
    status: text("status").notNull().default("open"),
    messageCount: integer("message_count").notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    lastMessageAt: timestamp("last_message_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("conversations_last_message_idx").on(t.lastMessageAt)],
);

/** Customer messages exactly as validated at the edge; the id is the idempotency key of the whole pipeline. */
export const messages = pgTable(
  "messages",
  {
    id: uuid("id").primaryKey(),
    conversationId: text("conversation_id").notNull(),
    source: text("source").notNull(),
    customerId: text("customer_id").notNull(),
    customerName: text("customer_name"),
    customerEmail: text("customer_email"),
    text: text("text").notNull(),
    attachments: jsonb("attachments").notNull().default(sql`'[]'::jsonb`),
    metadata: jsonb("metadata").notNull().default(sql`'{}'::jsonb`),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("messages_conversation_idx").on(t.conversationId, t.receivedAt)],
);

/** The master agent's combined result for one message: per-worker outputs as JSONB plus typed columns for analytics. */
export const results = pgTable(
  "results",
  {
    messageId: uuid("message_id").primaryKey().references(() => messages.id, { onDelete: "cascade" }),
    conversationId: text("conversation_id").notNull(),
    channel: text("channel").notNull(),
    intent: text("intent"),
    intentConfidence: real("intent_confidence"),
    sentiment: text("sentiment"),
    urgency: text("urgency"),
    outputs: jsonb("outputs").notNull(),
    failures: jsonb("failures").notNull().default(sql`'[]'::jsonb`),
    degraded: integer("degraded").notNull().default(0),
    totalMs: real("total_ms").notNull(),
    timings: jsonb("timings").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    /** Set once the result event is on response-events; a redelivered message re-publishes only if this is null. */
    publishedAt: timestamp("published_at", { withTimezone: true }),
  },
  (t) => [index("results_created_idx").on(t.createdAt), index("results_intent_idx").on(t.intent, t.createdAt), index("results_conversation_idx").on(t.conversationId)],
);

/** Records that could not be processed, with the reason and the raw payload. */
export const deadLetters = pgTable("dead_letters", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  topic: text("topic").notNull(),
  partition: integer("partition").notNull(),
  offset: text("offset").notNull(),
  key: text("key"),
  reason: text("reason").notNull(),
  errors: jsonb("errors"),
  raw: text("raw").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});
