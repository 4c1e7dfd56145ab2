import { sql } from "drizzle-orm";
import { bigint, bigserial, index, integer, jsonb, pgTable, real, text, timestamp, uuid } from "drizzle-orm/pg-core";

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
    /** Keyed blind index (HMAC) of the email address: equality lookups while the address itself is encrypted. */
    customerEmailIndex: text("customer_email_index"),
    text: text("text").notNull(),
    attachments: jsonb("attachments").notNull().default(sql`'[]'::jsonb`),
    metadata: jsonb("metadata").notNull().default(sql`'{}'::jsonb`),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("messages_conversation_idx").on(t.conversationId, t.receivedAt),
    index("messages_customer_idx").on(t.customerId),
    index("messages_email_index_idx").on(t.customerEmailIndex),
    index("messages_received_idx").on(t.receivedAt),
  ],
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

/** Durable cursors of channel producers (IMAP UID/UIDVALIDITY, X since_id) with a lease so one replica owns each. */
export const channelCheckpoints = pgTable("channel_checkpoints", {
  key: text("key").primaryKey(),
  value: jsonb("value").notNull().default(sql`'{}'::jsonb`),
  owner: text("owner"),
  leaseUntil: timestamp("lease_until", { withTimezone: true }),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

/** Every email seen or sent, by RFC 5322 Message-ID: dedupes inbound mail and threads replies into conversations. */
export const emailMessages = pgTable(
  "email_messages",
  {
    messageIdHeader: text("message_id_header").primaryKey(),
    conversationId: text("conversation_id").notNull(),
    direction: text("direction").notNull(),
    copilotMessageId: uuid("copilot_message_id"),
    mailbox: text("mailbox"),
    uid: bigint("uid", { mode: "number" }),
    status: text("status").notNull().default("published"),
    /** Blind index of the sender address (inbound mail): who takes part in the thread, without storing the address. */
    senderIndex: text("sender_index"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("email_messages_conversation_idx").on(t.conversationId)],
);

/** Signed webhook deliveries already accepted, kept for the timestamp tolerance window to refuse replays. */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    key: text("key").primaryKey(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("webhook_deliveries_created_idx").on(t.createdAt)],
);

/** Every reply sent back to a customer: who approved it, on which channel, and what happened (idempotent by key). */
export const outboundReplies = pgTable(
  "outbound_replies",
  {
    id: uuid("id").primaryKey(),
    idempotencyKey: text("idempotency_key").notNull().unique(),
    messageId: uuid("message_id"),
    conversationId: text("conversation_id").notNull(),
    channel: text("channel").notNull(),
    recipient: jsonb("recipient").notNull().default(sql`'{}'::jsonb`),
    text: text("text").notNull(),
    approvedBy: text("approved_by").notNull(),
    approvedAt: timestamp("approved_at", { withTimezone: true }).notNull(),
    status: text("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    externalId: text("external_id"),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true }),
    sentAt: timestamp("sent_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("outbound_replies_conversation_idx").on(t.conversationId), index("outbound_replies_due_idx").on(t.status, t.nextAttemptAt)],
);

/** Privacy operations (erasure, retention purge): who, when, and row counts; never the customer's id or data. */
export const privacyAudit = pgTable(
  "privacy_audit",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    action: text("action").notNull(),
    actor: text("actor").notNull(),
    /** Blind index of the erased customer id (proves which request was served without keeping the id). */
    subjectIndex: text("subject_index"),
    counts: jsonb("counts").notNull().default(sql`'{}'::jsonb`),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("privacy_audit_created_idx").on(t.createdAt)],
);

/**
 * Events written in the same transaction as the state they announce (a stored draft, a reply decision), so a
 * failed publish cannot leave the state without its event: the relay publishes unpublished rows (at least once;
 * consumers dedupe by message id). A row that carries an approved or auto-sent reply (`reply_message_id`) is also
 * the sweeper's to-do: if no hub sent it within a grace period, the sweeper does.
 */
export const outbox = pgTable(
  "outbox",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    topic: text("topic").notNull(),
    key: text("key"),
    value: text("value").notNull(),
    headers: jsonb("headers").notNull().default(sql`'{}'::jsonb`),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    publishedAt: timestamp("published_at", { withTimezone: true }),
    /** Relay lease: the process publishing this row, until when (a crashed relay's rows are taken over after it). */
    claimedBy: text("claimed_by"),
    claimedUntil: timestamp("claimed_until", { withTimezone: true }),
    replyMessageId: uuid("reply_message_id"),
    replyDoneAt: timestamp("reply_done_at", { withTimezone: true }),
    replyClaimedBy: text("reply_claimed_by"),
    replyClaimedUntil: timestamp("reply_claimed_until", { withTimezone: true }),
  },
  (t) => [
    index("outbox_unpublished_idx").on(t.id).where(sql`${t.publishedAt} is null`),
    index("outbox_reply_due_idx").on(t.createdAt).where(sql`${t.replyMessageId} is not null and ${t.replyDoneAt} is null`),
  ],
);
