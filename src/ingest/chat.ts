import { Value } from "@sinclair/typebox/value";
import { Elysia, t } from "elysia";
import { AppError, err, ok, type Result } from "../errors.ts";
import { authorize, type KeyList } from "../http/auth.ts";
import { DEFAULT_MAX_BODY_BYTES, readJsonBody } from "../http/body.ts";
import { defaultGuard, RateLimited, type AbuseGuard } from "../ratelimit/guard.ts";
import type { Lease } from "../ratelimit/interface.ts";
import type { Logger } from "../obs/log.ts";
import type { Metrics } from "../obs/metrics.ts";
import type { ResultHub } from "../realtime/hub.ts";
import { identify, messageIdFor, type ChatIdentity, type IdentityOptions } from "../widget/identity.ts";
import { conversationIdOf, customerMessageSchema, SOURCES } from "../schema/message.ts";
import { doc } from "../http/openapi.ts";
import { decodeUtf8Strict } from "../schema/text.ts";
import { ClientMessage, type ServerFrame } from "../schema/widget-socket.ts";
import { outputOf, type ConversationEvent } from "../schema/events.ts";
import type { MessagePublisher } from "./publisher.ts";

/** Dependencies of the chat producer. */
export interface ChatDeps {
  publisher: MessagePublisher;
  hub: ResultHub;
  /** Keys with the `ingest` scope may POST /api/messages. */
  apiKeys: KeyList;
  metrics: Metrics;
  /** Abuse limits (per IP, visitor, key; socket and in-flight caps); a per-process default when omitted. */
  guard?: AbuseGuard;
  log: Logger;
  /** Widget identity: HMAC-signed customer tokens, and whether anonymous visitors are refused. */
  identity?: IdentityOptions;
  /** The reply token stream (src/agents/response); only drafts marked customer-visible reach the customer. */
  replyStream?: { onConversation(conversationId: string, l: (ev: StreamEvent) => void): () => void };
  /** Byte limits of a POST body and of one socket frame (413 / close 1009 beyond them). */
  maxBodyBytes?: number;
  maxFrameBytes?: number;
}

/** The subset of reply stream events the chat socket understands. */
type StreamEvent =
  | { type: "reply.start"; message_id: string; customer_visible: boolean }
  | { type: "reply.delta"; message_id: string; text: string }
  | { type: "reply.end"; message_id: string; retract: boolean };

/**
 * Filters a conversation's reply stream down to what its customer may see: deltas of drafts that are expected to
 * be sent without review, and a retraction if the final check held the draft back after all.
 */
export function customerStream(send: (frame: ServerFrame) => void): (ev: StreamEvent) => void {
  const visible = new Set<string>();
  return (ev) => {
    if (ev.type === "reply.start") {
      if (ev.customer_visible) visible.add(ev.message_id);
    } else if (ev.type === "reply.delta") {
      if (visible.has(ev.message_id)) send({ type: "reply.delta", message_id: ev.message_id, delta: ev.text });
    } else if (ev.type === "reply.end" && visible.delete(ev.message_id) && ev.retract) {
      send({ type: "reply.retract", message_id: ev.message_id });
    }
  };
}

/** The part of a result a customer may see: never the internal analysis (intent, sentiment, entities). */
export function customerView(ev: ConversationEvent): ServerFrame {
  if (ev.type === "reply.sent") {
    // A reply sent later by the reply service (src/channels/replies): shown like a result's reply, once per message.
    return { type: "result", message_id: ev.message_id ?? ev.reply_id, processed_at: ev.sent_at, reply: ev.text };
  }
  const reply = outputOf(ev.outputs, "reply");
  return {
    type: "result",
    message_id: ev.message_id,
    processed_at: ev.processed_at,
    ...(reply?.text && (reply.status === "auto_sent" || reply.status === "approved") ? { reply: reply.text } : {}),
  };
}

/** Per-socket abuse state: the client address, its socket slot, messages awaiting an ack, refusals in a row. */
interface SocketState {
  ip: string;
  lease: Lease;
  inFlight: number;
  refusals: number;
  opened: boolean;
}

/** One server frame as socket text: typed against the published protocol (src/schema/widget-socket.ts). */
const frame = (f: ServerFrame): string => JSON.stringify(f);

/**
 * Validates one socket frame here rather than through Elysia's `body` option, so a bad frame (binary, invalid UTF-8,
 * not JSON, too deep, wrong shape) gets the same `{type:"error", code, message}` frame as every other refusal.
 */
export function parseFrame(raw: unknown): Result<ClientMessage, AppError> {
  let v = raw;
  if (raw instanceof Uint8Array) {
    const text = decodeUtf8Strict(raw);
    if (text === null) return err(new AppError("invalid_utf8", "frame is not valid UTF-8", { status: 400 }));
    v = text;
  }
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch (e) {
      return err(new AppError("invalid_frame", e instanceof RangeError ? "frame is nested too deeply" : "frame is not JSON", { status: 400 }));
    }
  }
  if (!Value.Check(ClientMessage, v)) {
    const details = [...Value.Errors(ClientMessage, v)].slice(0, 5).map((e) => ({ path: e.path || "/", message: e.message }));
    return err(new AppError("invalid_frame", "frame failed validation", { status: 422, details }));
  }
  return ok(v);
}

const published = customerMessageSchema().properties;
/** The body of POST /api/messages as documented: the topic contract minus what the server fills in. */
const MessageInput = t.Object({
  id: t.Optional(t.String({ ...published.id, description: "A stable id makes a retry idempotent; generated when absent." })),
  source: t.Optional(t.Union(SOURCES.map((s) => t.Literal(s)), { default: "chat" })),
  user: published.user,
  message: t.Object({ text: published.message.properties.text, attachments: t.Optional(published.message.properties.attachments) }),
  metadata: t.Optional(t.Record(t.String(), t.Unknown(), { description: "Free-form, at most 16 KiB; `conversation_id` groups messages into a thread." })),
});
const Accepted = t.Object({ id: t.String(), conversation_id: t.String(), status: t.Literal("accepted") });

/**
 * ChatProducer: `POST /api/messages` for servers and integrations (API key), and the customer chat WebSocket
 * `/api/chat/ws?visitor=<id>` (or `?token=<signed identity>`) used by the widget. Both publish to
 * customer-messages keyed by conversation; a socket only ever sees its own conversation.
 */
export function chatRoutes(d: ChatDeps) {
  const identityOptions: IdentityOptions = d.identity ?? { secret: null, required: false };
  const guard = d.guard ?? defaultGuard();
  const caps = guard.settings;
  // Both check the caller's address first: a boxed address is refused before routing (AbuseGuard.early).
  guard.gate("POST", "/api/messages", "ingest_ip");
  guard.gate("GET", "/api/chat/ws", "chat_connect_ip");
  const who = (ws: { data: unknown }) => (ws.data as { identity: ChatIdentity }).identity;
  const state = (ws: { data: unknown }) => (ws.data as { socket: SocketState }).socket;
  /** A refused or invalid frame; a socket that keeps sending them is closed as abusive (1008, policy violation). */
  const refuse = (ws: { data: unknown; send(s: string): unknown; close(code?: number, reason?: string): unknown }, clientId: string | undefined, e: RateLimited | AppError) => {
    const st = state(ws);
    ws.send(frame({ type: "error", client_id: clientId, ...e.toJSON().error, retriable: e.retriable }));
    if (++st.refusals >= caps.abusiveRefusals) {
      d.log.warn({ component: "chat", conversation: who(ws)?.conversationId, rule: e instanceof RateLimited ? e.rule : e.code }, "chat socket closed for abuse");
      ws.close(1008, "rate limit exceeded");
    }
  };
  return new Elysia({ name: "chat", prefix: "/api" })
    .post(
      "/messages",
      async ({ request, set, server }) => {
        await guard.check(["ingest_ip", guard.ip(request, server)]);
        const key = authorize(d.apiKeys, request.headers, "ingest");
        if (key) await guard.check(["ingest_key", key.name]);
        const body = await readJsonBody(request, d.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
        if (!body || typeof body !== "object" || Array.isArray(body)) throw new AppError("invalid_body", "body must be a JSON object", { status: 400 });
        const b = body as Record<string, unknown>;
        const source = b.source ?? "chat";
        if (typeof source !== "string" || !(SOURCES as readonly string[]).includes(source)) {
          throw new AppError("invalid_message", "message failed validation", { status: 422, details: [{ path: "/source", message: `must be one of ${SOURCES.join(", ")}` }] });
        }
        if (b.metadata !== undefined && (typeof b.metadata !== "object" || b.metadata === null || Array.isArray(b.metadata))) {
          throw new AppError("invalid_message", "message failed validation", { status: 422, details: [{ path: "/metadata", message: "must be an object" }] });
        }
        const res = await d.publisher.submit({
          id: typeof b.id === "string" ? b.id : undefined,
          source: source as (typeof SOURCES)[number],
          user: b.user,
          message: b.message,
          metadata: b.metadata as Record<string, unknown> | undefined,
        });
        if (!res.ok) throw res.error;
        set.status = 202;
        return { id: res.value.id, conversation_id: conversationIdOf(res.value), status: "accepted" as const };
      },
      {
        parse: "none",
        detail: doc({
          summary: "Publish a customer message",
          description: "Validated at the edge (strict UTF-8, size limits, text checks) and published to customer-messages keyed by conversation; results arrive on the dashboards and, for chat, on the customer's socket.",
          tag: "ingest",
          auth: "ingest",
          errors: [400, 413, 422, 429, 503],
          body: { schema: MessageInput },
        }),
        response: { 202: Accepted },
      },
    )
    .ws("/chat/ws", {
      query: t.Object({ visitor: t.Optional(t.String({ maxLength: 128 })), token: t.Optional(t.String({ maxLength: 4096 })) }),
      detail: doc({
        summary: "Customer chat socket (WebSocket upgrade)",
        description:
          "Scoped to one conversation by `visitor` (anonymous id) or `token` (signed identity); JSON text frames as in /schemas/widget-socket.json. Refused with 401 when the identity is refused, 429 over the connection limits.",
        tag: "widget",
        auth: "public",
        errors: [401, 429],
      }),
      idleTimeout: 120,
      // Bun's adapter ignores per-route socket options: the enforced cap is buildApp's server-wide wsMaxPayloadBytes.
      maxPayloadLength: d.maxFrameBytes ?? 256 * 1024,
      async beforeHandle(ctx) {
        // Elysia runs a socket's beforeHandle twice on the same context (route, then upgrade): count the connection once.
        if ((ctx as { socket?: SocketState }).socket) return;
        const ip = guard.ip(ctx.request, ctx.server);
        await guard.check(["chat_connect_ip", ip]);
        const id = identify(ctx.query, identityOptions);
        if (!id.ok) throw id.error;
        const lease = await guard.socketSlot(ip);
        if (!lease) throw new RateLimited("sockets_per_ip", 30);
        // The slot is handed to open(); if the upgrade never completes, it is given back.
        const st: SocketState = { ip, lease, inFlight: 0, refusals: 0, opened: false };
        Object.assign(ctx as object, { socket: st });
        setTimeout(() => {
          if (!st.opened) void lease.release();
        }, 10_000).unref?.();
      },
      open(ws) {
        state(ws).opened = true;
        const id = identify(ws.data.query, identityOptions);
        if (!id.ok) return ws.close(4401, id.error.code);
        (ws.data as unknown as { identity: ChatIdentity }).identity = id.value;
        const conversationId = id.value.conversationId;
        const offResults = d.hub.onConversation(conversationId, (ev) => ws.send(frame(customerView(ev))));
        const offStream = d.replyStream?.onConversation(conversationId, customerStream((f) => ws.send(frame(f))));
        (ws.data as unknown as { off?: () => void }).off = () => {
          offResults();
          offStream?.();
        };
        d.metrics.wsClients.inc({ kind: "chat" });
        ws.send(frame({ type: "ready", conversation_id: conversationId }));
      },
      async message(ws, raw) {
        const id = who(ws);
        if (!id) return;
        const parsed = parseFrame(raw);
        // Invalid frames count like refused ones: garbage cannot be sent for free on an open socket.
        if (!parsed.ok) return refuse(ws, undefined, parsed.error);
        const body = parsed.value;
        const st = state(ws);
        if (st.inFlight >= caps.inFlightPerSocket) {
          d.metrics.rateLimited.inc({ rule: "in_flight_per_socket" });
          return refuse(ws, body.client_id, new AppError("too_many_in_flight", `at most ${caps.inFlightPerSocket} messages may await acknowledgement`, { status: 429, retriable: true }));
        }
        st.inFlight++;
        try {
          const limited = await guard.refusal(["chat_message_ip", st.ip], ["chat_message_visitor", id.conversationId]);
          if (limited) return refuse(ws, body.client_id, limited);
          st.refusals = 0;
          const res = await d.publisher.submit({
            ...(body.client_id ? { id: messageIdFor(id.conversationId, body.client_id) } : {}),
            source: "chat",
            user: { ...id.user, ...(body.name && !id.verified ? { name: body.name } : {}) },
            message: { text: body.text },
            metadata: { conversation_id: id.conversationId, ...(body.client_id ? { client_id: body.client_id } : {}), ...(id.verified ? { identity: "verified" } : {}) },
          });
          if (!res.ok) {
            ws.send(frame({ type: "error", client_id: body.client_id, ...res.error.toJSON().error }));
            return;
          }
          ws.send(frame({ type: "ack", id: res.value.id, client_id: body.client_id }));
        } catch (e) {
          const retriable = e instanceof AppError ? e.retriable : true;
          d.log.error({ component: "chat", err: (e as Error).message }, "chat message could not be published");
          ws.send(frame({ type: "error", client_id: body.client_id, code: "unavailable", message: "message not accepted, please retry", retriable }));
        } finally {
          st.inFlight--;
        }
      },
      close(ws) {
        void state(ws).lease?.release();
        (ws.data as unknown as { off?: () => void }).off?.();
        d.metrics.wsClients.dec({ kind: "chat" });
      },
    });
}
