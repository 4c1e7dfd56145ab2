import { t, type Static } from "elysia";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import { AppError, err, ok, type Result } from "../errors.ts";
import { findTextProblems } from "./text.ts";

/** Channels a customer message can come from. */
export const SOURCES = ["email", "chat", "social"] as const;
export type Source = (typeof SOURCES)[number];

/** Size limits applied to every message at the edge. */
export interface MessageLimits {
  maxTextChars: number;
  maxAttachments: number;
}

/** Default limits; the running service takes them from config. */
export const DEFAULT_LIMITS: MessageLimits = { maxTextChars: 20_000, maxAttachments: 20 };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
/** Metadata is free-form but bounded: it travels with every record. */
const MAX_METADATA_BYTES = 16_384;

const attachment = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 255 }),
    content_type: t.String({ minLength: 1, maxLength: 255, pattern: "^[\\w.+-]+/[\\w.+-]+$" }),
    size: t.Integer({ minimum: 0, maximum: 100 * 1024 * 1024 }),
    url: t.Optional(t.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);

/** The contract on the customer-messages topic, built for a given set of limits. */
export function customerMessageSchema(limits: MessageLimits = DEFAULT_LIMITS) {
  return t.Object(
    {
      id: t.String({ pattern: UUID.source, description: "uuid" }),
      source: t.Union(SOURCES.map((s) => t.Literal(s))),
      user: t.Object(
        {
          id: t.String({ minLength: 1, maxLength: 256 }),
          name: t.Optional(t.String({ minLength: 1, maxLength: 256 })),
          email: t.Optional(t.String({ maxLength: 320, pattern: EMAIL.source })),
        },
        { additionalProperties: false },
      ),
      message: t.Object(
        {
          text: t.String({ minLength: 1, maxLength: limits.maxTextChars }),
          attachments: t.Array(attachment, { maxItems: limits.maxAttachments }),
        },
        { additionalProperties: false },
      ),
      metadata: t.Object(
        {
          received_at: t.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$" }),
          conversation_id: t.Optional(t.String({ minLength: 1, maxLength: 256 })),
        },
        { additionalProperties: true },
      ),
    },
    { additionalProperties: false },
  );
}

const defaultSchema = customerMessageSchema();
/** A normalised, validated customer message. */
export type CustomerMessage = Static<typeof defaultSchema>;
/** An attachment descriptor (content is never forwarded to models). */
export type Attachment = Static<typeof attachment>;

/** One problem with one field, as returned to clients and written to the DLQ. */
export interface FieldError {
  path: string;
  message: string;
}

/** True when a value nests objects/arrays deeper than `max` (checked without recursion: a hostile depth cannot overflow the stack). */
function tooDeep(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (!v || typeof v !== "object") continue;
    if (d >= max) return true;
    for (const c of Array.isArray(v) ? v : Object.values(v)) if (c && typeof c === "object") stack.push([c, d + 1]);
  }
  return false;
}

/** Trims strings and applies Unicode NFC, recursively; other values pass through untouched. */
export function normalize(value: unknown, depth = 0): unknown {
  if (depth > 8) return value;
  if (typeof value === "string") return value.normalize("NFC").trim();
  if (Array.isArray(value)) return value.map((v) => normalize(v, depth + 1));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalize(v, depth + 1);
    return out;
  }
  return value;
}

function describe(e: { path: string; message: string; schema: { description?: string; pattern?: string | RegExp } }): string {
  if (e.path === "/id") return "must be a UUID";
  if (e.path === "/user/email") return "must be a valid email address";
  if (e.path === "/metadata/received_at") return "must be an ISO-8601 date-time with timezone";
  return e.message.replace(/^Expected/, "expected");
}

/** The schema of each limits object with its compiled check (the check is the fast path of every valid record). */
const compiled = new WeakMap<object, { schema: ReturnType<typeof customerMessageSchema>; check: TypeCheck<ReturnType<typeof customerMessageSchema>> }>();

/** Normalises and validates an unknown payload; returns every field error, one per path. */
export function parseCustomerMessage(raw: unknown, limits: MessageLimits = DEFAULT_LIMITS): Result<CustomerMessage, AppError> {
  let c = compiled.get(limits);
  if (!c) {
    const schema = customerMessageSchema(limits);
    c = { schema, check: TypeCompiler.Compile(schema) };
    compiled.set(limits, c);
  }
  const value = normalize(raw);
  // Refused characters are a 400 naming each field: the payload is malformed, not merely out of the contract.
  const bad = findTextProblems(value);
  if (bad.length) {
    return err(new AppError("invalid_characters", `message contains refused characters: ${bad.map((e) => `${e.path} ${e.message}`).join("; ")}`, { status: 400, retriable: false, details: bad }));
  }
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  // Walking the errors costs far more than the compiled check; a valid record (nearly all of them) skips it.
  for (const e of c.check.Check(value) ? [] : Value.Errors(c.schema, value)) {
    const path = e.path || "/";
    if (seen.has(path)) continue;
    seen.add(path);
    errors.push({ path, message: describe(e as never) });
    if (errors.length >= 20) break;
  }
  if (errors.length === 0) {
    const meta = (value as CustomerMessage).metadata;
    const size = tooDeep(meta, 16) ? Number.POSITIVE_INFINITY : Buffer.byteLength(JSON.stringify(meta));
    if (size === Number.POSITIVE_INFINITY) errors.push({ path: "/metadata", message: "must not be nested deeper than 16 levels" });
    else if (size > MAX_METADATA_BYTES) errors.push({ path: "/metadata", message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON (got ${size})` });
    else if (Number.isNaN(Date.parse(meta.received_at))) errors.push({ path: "/metadata/received_at", message: "must be a real date" });
  }
  if (errors.length) {
    return err(new AppError("invalid_message", `message failed validation: ${errors.map((e) => `${e.path} ${e.message}`).join("; ")}`, { status: 422, retriable: false, details: errors }));
  }
  return ok(value as CustomerMessage);
}

/** The conversation a message belongs to: explicit metadata first, else one conversation per channel user. */
export function conversationIdOf(m: { source: string; user: { id: string }; metadata: { conversation_id?: string } }): string {
  return m.metadata.conversation_id ?? `${m.source}:${m.user.id}`;
}
