import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import { t, type Static, type TSchema } from "elysia";
import { AppError, err, ok, type Result } from "../errors.ts";

/**
 * The contracts on response-events and reply-stream, and of the worker outputs a result carries. Producers build
 * these shapes; every consumer checks what it reads from the bus or the database against them instead of casting.
 * Objects are open (`additionalProperties`): a worker may add fields without breaking older consumers, but the
 * fields declared here are what consumers rely on, so a producer that breaks them is caught where it is read.
 */

const open = { additionalProperties: true } as const;

/** What a reviewer asks for (review API routes and dashboard buttons). */
export const REVIEW_ACTIONS = ["approve", "edit", "reject"] as const;
/** What a reviewer did. */
export type ReviewAction = (typeof REVIEW_ACTIONS)[number];
/** How a decision is recorded (reply_decisions.action and `outputs.reply.review.action`). */
export const DECISION_ACTIONS = ["approved", "edited", "rejected"] as const;
/** A recorded decision's action. */
export type DecisionAction = (typeof DECISION_ACTIONS)[number];
/** The recorded action of each review action. */
export const DECISION_OF: Record<ReviewAction, DecisionAction> = { approve: "approved", edit: "edited", reject: "rejected" };
/** The one limit on a rejection reason, wherever the decision is made. */
export const REASON_MAX_CHARS = 2000;

/** The one shape of a reviewer's decision: stored on the result as `outputs.reply.review` and published with it. */
export const ReplyReviewSchema = t.Object({ action: t.Union([t.Literal("approved"), t.Literal("edited"), t.Literal("rejected")]), by: t.String(), at: t.String(), reason: t.Optional(t.String({ maxLength: REASON_MAX_CHARS })) }, open);
/** A reviewer's decision. */
export type ReplyReview = Static<typeof ReplyReviewSchema>;

/** What happened to an approved reply's hand-off to its channel. */
export const ReplyDeliverySchema = t.Object({ status: t.String(), id: t.Optional(t.String()), code: t.Optional(t.String()), message: t.Optional(t.String()) }, open);

/** Output of the `intent` worker (src/ml/triage.ts IntentOutput). */
export const IntentOutputSchema = t.Object({ label: t.String(), confidence: t.Optional(t.Number()), top: t.Optional(t.Array(t.Object({ label: t.String(), score: t.Number() }, open))) }, open);
/** Output of the `sentiment` worker: urgency is `{level, reasons}` (a bare level is accepted from older results). */
export const SentimentOutputSchema = t.Object(
  { label: t.String(), confidence: t.Optional(t.Number()), urgency: t.Optional(t.Union([t.String(), t.Object({ level: t.String(), reasons: t.Optional(t.Array(t.String())) }, open)])) },
  open,
);
/** Output of the `entities` worker (values of sensitive types are masked). */
export const EntitiesOutputSchema = t.Object({ entities: t.Array(t.Object({ type: t.String(), value: t.String() }, open)), has_pii: t.Optional(t.Boolean()) }, open);
const passage = t.Object({ text: t.String(), score: t.Optional(t.Number()) }, open);
/** Output of the `knowledge` worker: customer-facing passages, internal guidance, and whether retrieval abstained. */
export const KnowledgeOutputSchema = t.Object({ passages: t.Array(passage), guidance: t.Optional(t.Array(passage)), abstain: t.Optional(t.Boolean()), abstain_reason: t.Optional(t.Union([t.String(), t.Null()])) }, open);
/** Output of the `reply` worker, with the reviewer's decision and the delivery once it is decided. */
export const ReplyOutputSchema = t.Object(
  { text: t.String(), status: t.String(), edited: t.Optional(t.Boolean()), review: t.Optional(ReplyReviewSchema), delivery: t.Optional(ReplyDeliverySchema) },
  open,
);
/** A drafted (or decided) reply as consumers read it. */
export type ReplyOutput = Static<typeof ReplyOutputSchema>;

/** The worker outputs consumers read, by worker name. */
export const WORKER_OUTPUTS = {
  intent: IntentOutputSchema,
  sentiment: SentimentOutputSchema,
  entities: EntitiesOutputSchema,
  knowledge: KnowledgeOutputSchema,
  reply: ReplyOutputSchema,
} as const;
/** A worker whose output has a contract. */
export type KnownWorker = keyof typeof WORKER_OUTPUTS;
/** The checked output of a known worker. */
export type WorkerOutput<K extends KnownWorker> = Static<(typeof WORKER_OUTPUTS)[K]>;

/** Why a worker's output is missing from a result. */
export const WorkerFailureSchema = t.Object({ worker: t.String(), code: t.String(), message: t.String(), attempts: t.Number() });

/** Per-worker outputs keyed by worker name (the known workers' outputs are read through `outputOf`). */
const OutputsSchema = t.Record(t.String(), t.Unknown());

/** The master's combined result for one message (persisted, and published on response-events; re-published on a revision or a decision). */
export const ResultEventSchema = t.Object(
  {
    type: t.Literal("message.result"),
    message_id: t.String(),
    conversation_id: t.String(),
    // The channels of src/schema/message.ts SOURCES (test/backbone/schema.test.ts keeps them equal).
    source: t.Union([t.Literal("email"), t.Literal("chat"), t.Literal("social")]),
    user: t.Object({ id: t.String(), name: t.Optional(t.String()) }, open),
    text: t.String(),
    received_at: t.String(),
    processed_at: t.String(),
    outputs: OutputsSchema,
    failures: t.Array(WorkerFailureSchema),
    degraded: t.Boolean(),
    revision: t.Optional(t.Integer({ minimum: 0 })),
    timings: t.Object({ total_ms: t.Number(), workers: t.Record(t.String(), t.Number()) }, open),
  },
  open,
);

/** A chat reply sent later by the reply service, so every API replica's hub reaches the customer's socket. */
export const ReplySentEventSchema = t.Object({
  type: t.Literal("reply.sent"),
  reply_id: t.String(),
  message_id: t.Union([t.String(), t.Null()]),
  conversation_id: t.String(),
  channel: t.Literal("chat"),
  text: t.String(),
  sent_at: t.String(),
});
/** A reply.sent event. */
export type ReplySentEvent = Static<typeof ReplySentEventSchema>;

/** Privacy announcements (src/privacy): every replica drops erased or purged tickets from its index. */
export const PrivacyEventSchema = t.Union([
  t.Object({ type: t.Literal("privacy.erase"), ticket_ids: t.Array(t.String()), at: t.String() }),
  t.Object({ type: t.Literal("privacy.purge"), before: t.String(), at: t.String() }),
]);
/** A privacy announcement on response-events. */
export type PrivacyEvent = Static<typeof PrivacyEventSchema>;

/** Everything on response-events. */
export const ResponseEventSchema = t.Union([ResultEventSchema, ReplySentEventSchema, PrivacyEventSchema]);
/** An event on response-events. */
export type ResponseEvent = Static<typeof ResponseEventSchema>;
/** The events of response-events that belong to a conversation (what chat sockets, dashboards and the reply service get). */
export type ConversationEvent = Exclude<ResponseEvent, PrivacyEvent>;

/** Everything on reply-stream, in order per draft: start, deltas, end. Delta text is already PII-restored. */
export const ReplyStreamEventSchema = t.Union([
  t.Object({
    type: t.Literal("reply.start"),
    conversation_id: t.String(),
    message_id: t.String(),
    template: t.String(),
    generator: t.Union([t.String(), t.Null()]),
    /** True when the draft is expected to go out without review: the chat widget may show the deltas. */
    customer_visible: t.Boolean(),
  }),
  t.Object({ type: t.Literal("reply.delta"), conversation_id: t.String(), message_id: t.String(), seq: t.Number(), text: t.String() }),
  t.Object({
    type: t.Literal("reply.end"),
    conversation_id: t.String(),
    message_id: t.String(),
    status: t.String(),
    /** The final customer text differs from the streamed one (citations removed, fallback used, or held back). */
    replaced: t.Boolean(),
    /** The customer must not keep what was streamed (it was not sent after all). */
    retract: t.Boolean(),
  }),
]);
/** An event on reply-stream. */
export type ReplyStreamEvent = Static<typeof ReplyStreamEventSchema>;

/** The part of a customer message (src/schema/message.ts) that side consumers of customer-messages read. */
export const MessageHeaderSchema = t.Object(
  { id: t.String(), source: t.String(), user: t.Object({ id: t.String() }, open), metadata: t.Object({ received_at: t.String(), conversation_id: t.Optional(t.String()) }, open) },
  open,
);

/** Compiled checkers (compiled once: every record on the hot topics goes through one). */
export const checks = {
  responseEvent: TypeCompiler.Compile(ResponseEventSchema),
  resultEvent: TypeCompiler.Compile(ResultEventSchema),
  replyStreamEvent: TypeCompiler.Compile(ReplyStreamEventSchema),
  messageHeader: TypeCompiler.Compile(MessageHeaderSchema),
  privacyEvent: TypeCompiler.Compile(PrivacyEventSchema),
};
const outputChecks = Object.fromEntries(Object.entries(WORKER_OUTPUTS).map(([k, s]) => [k, TypeCompiler.Compile(s as TSchema)])) as { [K in KnownWorker]: TypeCheck<(typeof WORKER_OUTPUTS)[K]> };

/**
 * Checks a value against a contract. The error names the first failing path and the rule, never the value (events
 * carry customer text), so it can be logged as is.
 */
export function checkContract<T extends TSchema>(check: TypeCheck<T>, value: unknown, what: string): Result<Static<T>, AppError> {
  if (check.Check(value)) return ok(value);
  const first = check.Errors(value).First();
  return err(new AppError("invalid_event", `${what} breaks its contract at ${first?.path || "/"}: ${first?.message ?? "invalid"}`, { status: 422, retriable: false }));
}

/** Parses and checks one JSON record against a contract (a bad record is an expected failure, not an exception). */
export function parseContract<T extends TSchema>(check: TypeCheck<T>, raw: string, what: string): Result<Static<T>, AppError> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return err(new AppError("invalid_event", `${what} is not JSON`, { status: 422, retriable: false }));
  }
  return checkContract(check, value, what);
}

/**
 * A known worker's output from a result's outputs when it matches its contract; null when absent or malformed
 * (a result is still shown without the part that broke).
 */
export function outputOf<K extends KnownWorker>(outputs: Readonly<Record<string, unknown>> | null | undefined, worker: K): WorkerOutput<K> | null {
  const v = outputs?.[worker];
  return v !== undefined && outputChecks[worker].Check(v) ? (v as WorkerOutput<K>) : null;
}

/** A stored JSON object column (outputs, metadata, headers) as a record; anything else reads as empty. */
export function objectOf(v: unknown): Record<string, unknown> {
  return Value.Check(OutputsSchema, v) ? v : {};
}

/** A stored `results.outputs` JSON column as a record (anything else reads as no outputs). */
export const outputsOf = objectOf;

/** The channel of a stored message when it is one of the message schema's. */
export function sourceOf(v: string): ResultEvent["source"] | null {
  return v === "email" || v === "chat" || v === "social" ? v : null;
}

/** A stored `results.failures` JSON column: the entries that match the failure contract. */
export function failuresOf(v: unknown): WorkerFailure[] {
  return Array.isArray(v) ? v.filter((f): f is WorkerFailure => Value.Check(WorkerFailureSchema, f)) : [];
}

/** The urgency level of a sentiment output, whichever shape it has. */
export function urgencyLevelOf(outputs: Readonly<Record<string, unknown>> | null | undefined): string | null {
  const u = outputOf(outputs, "sentiment")?.urgency;
  return typeof u === "string" ? u : (u?.level ?? null);
}

/** The reviewer's decision carried by a result (null for a fresh or undecided one). */
export function reviewOf(outputs: Readonly<Record<string, unknown>> | null | undefined): ReplyReview | null {
  return outputOf(outputs, "reply")?.review ?? null;
}

/** The combined output of the master agent for one message, as persisted and published on response-events. */
export type ResultEvent = Static<typeof ResultEventSchema>;
/** Why a worker's output is missing from a result. */
export type WorkerFailure = Static<typeof WorkerFailureSchema>;
