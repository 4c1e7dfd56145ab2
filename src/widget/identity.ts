import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { AppError, err, ok, type Result } from "../errors.ts";

/** Claims a company's site vouches for when it embeds the widget for a signed-in customer. */
export interface IdentityClaims {
  /** The company's own customer id. */
  sub: string;
  name?: string;
  email?: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

/** Who is on the other end of a chat socket, and the conversation they may see. */
export interface ChatIdentity {
  conversationId: string;
  user: { id: string; name?: string; email?: string };
  verified: boolean;
}

const SUB = /^[A-Za-z0-9_.@+:-]{1,128}$/;
const VISITOR = /^[A-Za-z0-9_-]{8,128}$/;
/** Tokens valid for longer than this are refused, so a leaked one cannot be replayed for long. */
export const MAX_TOKEN_LIFETIME_S = 7 * 86_400;

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/**
 * Signs identity claims: `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, "v1." + claims))>`.
 * The company's server does this (any language can); the product only verifies.
 */
export function signIdentity(secret: string, claims: IdentityClaims): string {
  const body = `v1.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(createHmac("sha256", secret).update(body).digest())}`;
}

/** Verifies a token's signature, expiry and claims. */
export function verifyIdentity(secret: string, token: string, nowS = Math.floor(Date.now() / 1000)): Result<IdentityClaims, AppError> {
  const bad = (why: string) => err(new AppError("invalid_identity", `identity token rejected: ${why}`, { status: 401 }));
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== "v1") return bad("malformed");
  const expected = createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2]!, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return bad("bad signature");
  let c: Partial<IdentityClaims>;
  try {
    c = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
  } catch {
    return bad("malformed claims");
  }
  if (typeof c.sub !== "string" || !SUB.test(c.sub)) return bad("sub must be 1-128 characters of [A-Za-z0-9_.@+:-]");
  if (typeof c.exp !== "number" || c.exp <= nowS) return bad("expired");
  if (c.exp > nowS + MAX_TOKEN_LIFETIME_S) return bad("expiry too far in the future");
  const claims: IdentityClaims = { sub: c.sub, exp: c.exp };
  if (typeof c.name === "string" && c.name.trim()) claims.name = c.name.trim().slice(0, 256);
  if (typeof c.email === "string" && c.email.includes("@")) claims.email = c.email.trim().slice(0, 320);
  return ok(claims);
}

/** Identity settings of the widget. */
export interface IdentityOptions {
  secret: string | null;
  /** Refuse anonymous visitors. */
  required: boolean;
  /** HMAC key turning a visitor's secret into its public id (config.visitorIdKey); the built-in key when omitted. */
  visitorKey?: string;
}

/** The built-in visitor id key: ids stay one-way hashes of 256-bit browser secrets; VISITOR_ID_KEY adds a server secret. */
export const DEFAULT_VISITOR_KEY = "support-copilot/visitor-id/v1";

/**
 * The public id of an anonymous visitor: `anon:` + 132 bits of HMAC-SHA256(key, secret). One-way, so agents,
 * alerts, logs and events can show it without handing out the browser's secret, which is the chat's only credential.
 */
export function publicVisitorId(visitorSecret: string, key = DEFAULT_VISITOR_KEY): string {
  return `anon:${createHmac("sha256", key).update(`visitor\u0000${visitorSecret}`).digest("base64url").slice(0, 22)}`;
}

/**
 * Resolves a chat connection to its identity. Signed customers get `chat:id:<sub>`, anonymous visitors
 * `chat:anon:<HMAC of their secret>`; neither can collide with the other nor with the pre-split `chat:<visitor>` ids,
 * because visitor secrets contain no colon.
 */
export function identify(q: { visitor?: string; token?: string }, o: IdentityOptions): Result<ChatIdentity, AppError> {
  if (q.token) {
    if (!o.secret) return err(new AppError("identity_disabled", "identity tokens are not configured on this server", { status: 401 }));
    const v = verifyIdentity(o.secret, q.token);
    if (!v.ok) return v;
    const c = v.value;
    return ok({ conversationId: `chat:id:${c.sub}`, user: { id: c.sub, ...(c.name ? { name: c.name } : {}), ...(c.email ? { email: c.email } : {}) }, verified: true });
  }
  if (o.required) return err(new AppError("identity_required", "a signed identity token is required", { status: 401 }));
  if (!q.visitor || !VISITOR.test(q.visitor)) return err(new AppError("invalid_visitor", "visitor must be 8-128 characters of [A-Za-z0-9_-]", { status: 400 }));
  const pub = publicVisitorId(q.visitor, o.visitorKey);
  return ok({ conversationId: `chat:${pub}`, user: { id: pub }, verified: false });
}

/**
 * A message id derived from the conversation and the widget's client id, so a message re-sent after a lost
 * acknowledgement carries the same id and the pipeline's idempotency drops the copy.
 */
export function messageIdFor(conversationId: string, clientId: string): string {
  const h = createHash("sha256").update(`${conversationId}\u0000${clientId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
