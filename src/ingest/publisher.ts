import type { EventBus } from "../bus/interface.ts";
import { AppError, err, ok, type Result } from "../errors.ts";
import type { Metrics } from "../obs/metrics.ts";
import { withSpan } from "../obs/tracing.ts";
import { sanitizeDeep } from "../schema/text.ts";
import { conversationIdOf, parseCustomerMessage, type CustomerMessage, type MessageLimits } from "../schema/message.ts";

/** What every producer (chat, email, social) hands over before validation: the schema minus what the edge fills in. */
export interface IncomingMessage {
  id?: string;
  source: CustomerMessage["source"];
  user: unknown;
  message: { text?: unknown; attachments?: unknown } | unknown;
  metadata?: Record<string, unknown>;
  /**
   * Channels that cannot refuse what a customer sent (email, social, webhooks) set this: refused characters are
   * removed or replaced, and each repair is listed under `metadata.sanitized`, instead of a validation failure.
   */
  sanitize?: boolean;
}

/**
 * The single way onto the customer-messages topic: assigns id and received_at, normalises and validates,
 * and publishes keyed by conversation id so one conversation stays ordered.
 */
export class MessagePublisher {
  constructor(private readonly bus: EventBus, private readonly topic: string, private readonly limits: MessageLimits, private readonly metrics: Metrics) {}

  /** Validates and publishes; validation problems come back as a Result, bus failures are thrown (retriable). */
  async submit(input: IncomingMessage): Promise<Result<CustomerMessage, AppError>> {
    const msg = input.message && typeof input.message === "object" ? (input.message as Record<string, unknown>) : input.message;
    let user = input.user;
    let message: unknown = msg && typeof msg === "object" ? { attachments: [], ...msg } : msg;
    let metadata: Record<string, unknown> = { ...(input.metadata ?? {}) };
    if (input.sanitize) {
      const notes: string[] = [];
      user = sanitizeDeep(user, "user", notes).value;
      message = sanitizeDeep(message, "message", notes).value;
      metadata = sanitizeDeep(metadata, "metadata", notes).value;
      const earlier = Array.isArray(metadata.sanitized) ? (metadata.sanitized as unknown[]).filter((x): x is string => typeof x === "string") : [];
      if (notes.length || earlier.length) metadata.sanitized = [...earlier, ...notes];
      const m = message as { text?: unknown } | null;
      if (notes.length && m && typeof m === "object" && typeof m.text === "string" && !m.text.trim()) m.text = "(message held only control characters)";
    }
    const candidate = {
      id: input.id ?? Bun.randomUUIDv7(),
      source: input.source,
      user,
      message,
      metadata: { ...metadata, received_at: new Date().toISOString() },
    };
    const parsed = parseCustomerMessage(candidate, this.limits);
    if (!parsed.ok) return err(parsed.error);
    const m = parsed.value;
    // The ingest span is the root of the message's trace; the bus writes its context into the record headers.
    await withSpan("ingest", { attributes: { "message.id": m.id, "message.source": m.source } }, () =>
      this.bus.publish(this.topic, [{ key: conversationIdOf(m), value: JSON.stringify(m), headers: { "message-id": m.id, source: m.source } }]),
    );
    this.metrics.ingested.inc({ source: m.source });
    return ok(m);
  }
}
