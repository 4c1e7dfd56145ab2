import { type Static, type TSchema, Type as t } from "@sinclair/typebox";

/**
 * The customer chat socket protocol (`/api/chat/ws`): JSON text frames, one object each. The widget sends `message`
 * frames; the server answers with the frames below. Published as JSON Schema at /schemas/widget-socket.json.
 */

/** client → server: one customer message; `client_id` makes a resend idempotent (same message id). */
export const ClientMessage = t.Object(
  {
    type: t.Literal("message"),
    text: t.String({ maxLength: 100_000, description: "The customer's text." }),
    client_id: t.Optional(t.String({ maxLength: 64, description: "Chosen by the widget; a resend with the same id is the same message." })),
    name: t.Optional(t.String({ maxLength: 256, description: "Display name of an anonymous visitor (ignored for a verified identity)." })),
  },
  { title: "message (client → server)" },
);


/** server → client: the socket is bound to its conversation and accepts messages. */
export const ReadyFrame = t.Object(
  { type: t.Literal("ready"), conversation_id: t.String({ description: "The only conversation this socket sees." }) },
  { title: "ready" },
);

/** server → client: a message was accepted onto the bus. */
export const AckFrame = t.Object(
  { type: t.Literal("ack"), id: t.String({ description: "The message id." }), client_id: t.Optional(t.String()) },
  { title: "ack" },
);

/** server → client: a processed message, with the reply when one was sent (auto-sent or approved). */
export const ResultFrame = t.Object(
  {
    type: t.Literal("result"),
    message_id: t.String(),
    processed_at: t.String({ description: "ISO 8601 time." }),
    reply: t.Optional(t.String({ description: "Present only for a reply the customer may see." })),
  },
  { title: "result" },
);

/** server → client: streamed tokens of a draft expected to be sent without review. */
export const ReplyDeltaFrame = t.Object({ type: t.Literal("reply.delta"), message_id: t.String(), delta: t.String() }, { title: "reply.delta" });

/** server → client: a streamed draft was held back for review after all; the widget must remove it. */
export const ReplyRetractFrame = t.Object({ type: t.Literal("reply.retract"), message_id: t.String() }, { title: "reply.retract" });

/** server → client: a refused frame or message (validation, rate limit, bus unavailable). */
export const ErrorFrame = t.Object(
  {
    type: t.Literal("error"),
    code: t.String(),
    message: t.String(),
    client_id: t.Optional(t.String()),
    retriable: t.Optional(t.Boolean({ description: "true: send the same client_id again later." })),
    details: t.Optional(t.Unknown()),
  },
  { title: "error" },
);

/** Every frame the server sends. */
export const ServerFrame = t.Union([ReadyFrame, AckFrame, ResultFrame, ReplyDeltaFrame, ReplyRetractFrame, ErrorFrame], { title: "Server frame" });

const CLIENT_FRAMES = { ClientMessage };
const SERVER_FRAMES = { ReadyFrame, AckFrame, ResultFrame, ReplyDeltaFrame, ReplyRetractFrame, ErrorFrame };

export type ClientMessage = Static<typeof ClientMessage>;
export type ServerFrame = Static<typeof ServerFrame>;

/** Close codes the server uses besides the standard ones. */
export const CLOSE_CODES: Record<number, string> = {
  1008: "policy violation: the socket kept sending into rate-limit refusals",
  1009: "frame larger than the configured WS_MAX_PAYLOAD_BYTES",
  4401: "identity refused (anonymous visitors not allowed, or an invalid/expired token)",
};

/** Plain JSON of a TypeBox schema (drops TypeBox's symbol keys). */
const json = (s: TSchema): Record<string, unknown> => JSON.parse(JSON.stringify(s));

/** The protocol as one JSON Schema (2020-12) document: client and server frames under `$defs`. */
export function widgetSocketSchema(): Record<string, unknown> {
  const defs = Object.fromEntries(Object.entries({ ...CLIENT_FRAMES, ...SERVER_FRAMES }).map(([name, s]) => [name, json(s)]));
  const refs = (o: object) => Object.keys(o).map((name) => ({ $ref: `#/$defs/${name}` }));
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "/schemas/widget-socket.json",
    title: "Customer chat socket (/api/chat/ws)",
    description:
      "Connect with `GET /api/chat/ws?visitor=<id>` or `?token=<signed identity>` (WebSocket upgrade). Every frame is one JSON object in a text frame. The client sends `ClientFrame`; the server sends `ServerFrame`. Close codes: " +
      Object.entries(CLOSE_CODES)
        .map(([c, why]) => `${c} ${why}`)
        .join("; "),
    $defs: { ...defs, ClientFrame: { title: "Client frame", oneOf: refs(CLIENT_FRAMES) }, ServerFrame: { title: "Server frame", oneOf: refs(SERVER_FRAMES) } },
    oneOf: [{ $ref: "#/$defs/ClientFrame" }, { $ref: "#/$defs/ServerFrame" }],
  };
}
