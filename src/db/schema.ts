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

/** Dashboard users (support agents, leads, admins); passwords hashed with Bun.password (argon2id). */
export const users = pgTable("users", {
  id: uuid("id").primaryKey(),
  email: text("email").notNull().unique(),
  name: text("name").notNull(),
  role: text("role").notNull(),
  passwordHash: text("password_hash").notNull(),
  disabled: integer("disabled").notNull().default(0),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/** Dashboard sign-in sessions; only the SHA-256 of the cookie token is stored, so a database leak yields no live session. */
export const authSessions = pgTable(
  "auth_sessions",
  {
    tokenHash: text("token_hash").primaryKey(),
    userId: uuid("user_id").notNull().references(() => users.id, { onDelete: "cascade" }),
    csrfToken: text("csrf_token").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  },
  (t) => [index("auth_sessions_user_idx").on(t.userId)],
);

/** What an agent did with a drafted reply; the source of the draft acceptance rate and time to first response. */
export const replyDecisions = pgTable(
  "reply_decisions",
  {
    messageId: uuid("message_id").primaryKey().references(() => messages.id, { onDelete: "cascade" }),
    conversationId: text("conversation_id").notNull(),
    action: text("action").notNull(),
    draftText: text("draft_text"),
    finalText: text("final_text"),
    reason: text("reason"),
    userId: uuid("user_id").references(() => users.id, { onDelete: "set null" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("reply_decisions_conversation_idx").on(t.conversationId), index("reply_decisions_created_idx").on(t.createdAt)],
);

/** Corrections of worker outputs by agents, kept as labels for retraining the classifiers. */
export const labelCorrections = pgTable(
  "label_corrections",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    messageId: uuid("message_id").notNull().references(() => messages.id, { onDelete: "cascade" }),
    field: text("field").notNull(),
    previous: text("previous"),
    value: text("value").notNull(),
    text: text("text").notNull(),
    userId: uuid("user_id").references(() => users.id, { onDelete: "set null" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("label_corrections_message_idx").on(t.messageId)],
);

/** Alert rules managed by admins: per-message conditions (urgency, sentiment, VIP, keyword) and volume spikes. */
export const alertRules = pgTable("alert_rules", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  name: text("name").notNull(),
  kind: text("kind").notNull(),
  params: jsonb("params").notNull().default(sql`'{}'::jsonb`),
  webhook: integer("webhook").notNull().default(0),
  enabled: integer("enabled").notNull().default(1),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/** Fired alerts; `dedupe_key` makes firing idempotent across replicas and redeliveries. */
export const alerts = pgTable(
  "alerts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    ruleId: integer("rule_id").notNull(),
    dedupeKey: text("dedupe_key").notNull().unique(),
    kind: text("kind").notNull(),
    title: text("title").notNull(),
    detail: text("detail").notNull(),
    messageId: uuid("message_id"),
    conversationId: text("conversation_id"),
    webhookStatus: text("webhook_status"),
    acknowledgedBy: uuid("acknowledged_by").references(() => users.id, { onDelete: "set null" }),
    acknowledgedAt: timestamp("acknowledged_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("alerts_created_idx").on(t.createdAt)],
);
