import { createHmac, timingSafeEqual } from "node:crypto";
import { Value } from "@sinclair/typebox/value";
import { Elysia, t } from "elysia";
import { AppError } from "../../errors.ts";
import { DEFAULT_MAX_BODY_BYTES, tooLarge } from "../../http/body.ts";
import { doc } from "../../http/openapi.ts";
import type { MessagePublisher } from "../../ingest/publisher.ts";
import type { Logger } from "../../obs/log.ts";
import type { MessageLimits } from "../../schema/message.ts";
import { decodeUtf8Strict } from "../../schema/text.ts";
import type { ChannelStore } from "../store.ts";
import { postToIncoming, socialConversationId, type SocialReplier, type SocialReplyTarget } from "./types.ts";
import { defaultGuard, type AbuseGuard } from "../../ratelimit/guard.ts";

/** Header names of the signed webhook scheme (inbound and outbound). */
export const SIGNATURE_HEADER = "x-copilot-signature";
export const TIMESTAMP_HEADER = "x-copilot-timestamp";

/** `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<raw body>`: binding the time stops a signature being reused later. */
export function sign(secret: string, timestamp: string, rawBody: string | Uint8Array): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex")}`;
}

/** Checks a signature in constant time, against each secret (two during a key rotation). */
export function verify(secrets: string[], timestamp: string, rawBody: string | Uint8Array, presented: string): boolean {
  const got = Buffer.from(presented);
  let ok = false;
  for (const s of secrets) {
    const want = Buffer.from(sign(s, timestamp, rawBody));
    if (want.length === got.length && timingSafeEqual(want, got)) ok = true;
  }
  return ok;
}

/** The body any social tool posts: one item (mention, comment, DM) from one network. */
export const webhookEvent = t.Object(
  {
    id: t.String({ minLength: 1, maxLength: 256 }),
    network: t.Optional(t.String({ minLength: 1, maxLength: 64, pattern: "^[a-z0-9_-]+$" })),
    kind: t.Optional(t.String({ minLength: 1, maxLength: 32 })),
    author: t.Object({ id: t.String({ minLength: 1, maxLength: 200 }), name: t.Optional(t.String({ maxLength: 256 })), handle: t.Optional(t.String({ maxLength: 256 })) }),
    text: t.String({ minLength: 1, maxLength: 100_000 }),
    thread_id: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
    in_reply_to: t.Optional(t.String({ maxLength: 256 })),
    url: t.Optional(t.String({ maxLength: 2048 })),
    created_at: t.Optional(t.String({ maxLength: 64 })),
    attachments: t.Optional(
      t.Array(t.Object({ name: t.String({ minLength: 1, maxLength: 255 }), content_type: t.String({ minLength: 1, maxLength: 255 }), size: t.Integer({ minimum: 0 }), url: t.Optional(t.String({ maxLength: 2048 })) }), { maxItems: 50 }),
    ),
  },
  { additionalProperties: true },
);

/** Dependencies of the webhook endpoint. */
export interface WebhookDeps {
  publisher: MessagePublisher;
  store: ChannelStore;
  limits: MessageLimits;
  log: Logger;
  /** Source name → shared secrets (the first signs outbound calls; any verifies inbound). */
  secrets: Record<string, string[]>;
  toleranceSeconds: number;
  now?: () => number;
  /** Abuse limits per client address and per source, checked before the signature (a per-process default when omitted). */
  guard?: AbuseGuard;
  /** Byte limit of one delivery (413 beyond it). */
  maxBodyBytes?: number;
}

/**
 * `POST /api/channels/webhooks/:source`: a signed endpoint any social tool can post to. It verifies the
 * HMAC over the raw bytes, refuses timestamps outside the tolerance, remembers delivery ids for that window
 * (a replayed request is acknowledged but not published again), and publishes with a stable id.
 */
export function webhookRoutes(d: WebhookDeps) {
  const now = d.now ?? Date.now;
  const log = d.log.child({ component: "webhook" });
  const guard = d.guard ?? defaultGuard();
  guard.gate("POST", "/api/channels/webhooks/", "webhook_ip");
  return new Elysia({ name: "channels-webhooks", prefix: "/api/channels" }).post(
    "/webhooks/:source",
    async ({ params, request, set, server }) => {
      const source = params.source;
      await guard.check(["webhook_ip", guard.ip(request, server)]);
      const secrets = d.secrets[source];
      if (!secrets?.length) throw new AppError("unknown_source", `no webhook source named ${source}`, { status: 404 });
      const maxBytes = d.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
      const declared = Number(request.headers.get("content-length") ?? "");
      if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes, declared);
      const bytes = new Uint8Array(await request.arrayBuffer());
      if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes, bytes.byteLength);
      // The tool signed its bytes; invalid UTF-8 in them is repaired (U+FFFD) and recorded, not refused.
      const strict = decodeUtf8Strict(bytes);
      const raw = strict ?? new TextDecoder().decode(bytes);
      const ts = request.headers.get(TIMESTAMP_HEADER) ?? "";
      const sig = request.headers.get(SIGNATURE_HEADER) ?? "";
      if (!/^\d{9,11}$/.test(ts) || !sig) throw new AppError("unsigned", `${TIMESTAMP_HEADER} (unix seconds) and ${SIGNATURE_HEADER} are required`, { status: 401 });
      if (!verify(secrets, ts, bytes, sig)) throw new AppError("bad_signature", "signature does not match the body", { status: 401 });
      // Per source only once signed: unsigned floods must not use up the budget of the real sender.
      await guard.check(["webhook_source", source]);
      if (Math.abs(now() / 1000 - Number(ts)) > d.toleranceSeconds) throw new AppError("stale_timestamp", `timestamp outside the ${d.toleranceSeconds}s tolerance`, { status: 401 });
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        throw new AppError("invalid_body", "body is not valid JSON", { status: 400 });
      }
      if (!Value.Check(webhookEvent, body)) {
        const details = [...Value.Errors(webhookEvent, body)].slice(0, 10).map((e) => ({ path: e.path || "/", message: e.message }));
        throw new AppError("invalid_event", "event failed validation", { status: 422, details });
      }
      const ev = body as typeof webhookEvent.static;
      const network = ev.network ?? source;
      const deliveryKey = `${source}:${network}:${ev.id}`;
      if (!(await d.store.firstDelivery(deliveryKey, d.toleranceSeconds * 2000))) {
        set.status = 200;
        return { status: "duplicate" as const, id: ev.id };
      }
      const input = postToIncoming(
        {
          network,
          kind: ev.kind ?? "post",
          id: ev.id,
          author: ev.author,
          text: ev.text,
          thread: ev.thread_id ?? ev.id,
          inReplyTo: ev.in_reply_to,
          url: ev.url,
          createdAt: ev.created_at,
          attachments: ev.attachments,
        },
        d.limits,
      );
      (input.metadata!.social as Record<string, unknown>).webhook_source = source;
      if (strict === null) input.metadata!.sanitized = ["body: invalid UTF-8 replaced with U+FFFD"];
      let res: Awaited<ReturnType<MessagePublisher["submit"]>>;
      try {
        res = await d.publisher.submit(input);
      } catch (e) {
        // Not on the topic: forget the delivery so the sender's retry is accepted.
        await d.store.forgetDelivery(deliveryKey).catch(() => {});
        log.error({ source, err: (e as Error).message }, "webhook item could not be published");
        throw new AppError("unavailable", "event not accepted, retry later", { status: 503, retriable: true });
      }
      if (!res.ok) {
        await d.store.forgetDelivery(deliveryKey).catch(() => {});
        throw res.error;
      }
      set.status = 202;
      return { status: "accepted" as const, id: res.value.id, conversation_id: socialConversationId(network, ev.thread_id ?? ev.id) };
    },
    {
      parse: "none",
      detail: doc({
        summary: "Receive one social item (mention, comment, DM) from a signed webhook source",
        description:
          "Send X-Copilot-Timestamp (unix seconds) and X-Copilot-Signature. A delivery id seen within the tolerance window is acknowledged (200 duplicate) and not published again.",
        tag: "webhooks",
        auth: "signature",
        errors: [400, 404, 413, 422, 429, 503],
        body: { schema: webhookEvent },
      }),
      response: {
        200: t.Object({ status: t.Literal("duplicate"), id: t.String() }),
        202: t.Object({ status: t.Literal("accepted"), id: t.String(), conversation_id: t.String() }),
      },
    },
  );
}

/**
 * Replies for a webhook source: POSTs the reply, signed with the same scheme, to the tool's callback URL with
 * an `Idempotency-Key`, so the tool can drop a retry it already handled.
 */
export class WebhookReplier implements SocialReplier {
  constructor(readonly network: string, private readonly url: string, private readonly secret: string, private readonly fetchFn: typeof fetch = fetch) {}

  async reply(target: SocialReplyTarget, text: string, idempotencyKey: string): Promise<{ externalId: string | null }> {
    const body = JSON.stringify({ type: "reply", idempotency_key: idempotencyKey, network: target.network, kind: target.kind, in_reply_to: target.postId, thread_id: target.thread, recipient_id: target.authorId, text });
    const ts = String(Math.floor(Date.now() / 1000));
    let res: Response;
    try {
      res = await this.fetchFn(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": idempotencyKey, [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: sign(this.secret, ts, body) },
        body,
      });
    } catch (e) {
      throw new AppError("callback_unreachable", `reply callback unreachable: ${(e as Error).message}`, { status: 503, retriable: true, cause: e });
    }
    const out = await res.text();
    if (!res.ok) throw new AppError("callback_error", `reply callback answered ${res.status}`, { status: 502, retriable: res.status >= 500 || res.status === 429 || res.status === 408 });
    try {
      const j = JSON.parse(out) as { id?: unknown };
      return { externalId: typeof j.id === "string" ? j.id : null };
    } catch {
      return { externalId: null };
    }
  }
}
