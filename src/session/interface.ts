import type { AppError } from "../errors.ts";
import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

/** One turn of a conversation as kept in session memory. */
export interface Turn {
  role: "customer" | "agent" | "system";
  text: string;
  at: string;
  message_id?: string;
  /** Small per-turn facts workers want to remember (intent, sentiment, ...). */
  meta?: Record<string, unknown>;
}

const TurnSchema = Type.Object({
  role: Type.Union([Type.Literal("customer"), Type.Literal("agent"), Type.Literal("system")]),
  text: Type.String(),
  at: Type.String(),
  message_id: Type.Optional(Type.String()),
  meta: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
/** Compiled once: every session read checks each stored turn (up to SESSION_MAX_TURNS per conversation). */
const turnCheck = TypeCompiler.Compile(TurnSchema);

/** A stored turn (JSON from Redis) when it has the turn's shape; null for anything else (skipped, not cast). */
export function parseTurn(raw: string): Turn | null {
  try {
    const v: unknown = JSON.parse(raw);
    return turnCheck.Check(v) ? v : null;
  } catch {
    return null;
  }
}

/** A conversation's memory: bounded recent history plus small key/value state. */
export interface Session {
  conversationId: string;
  turns: Turn[];
  state: Record<string, unknown>;
  updatedAt: string | null;
}

/** Per-conversation memory with a TTL; Redis in production, an in-memory TTL map by default. */
export interface SessionStore {
  readonly kind: string;
  get(conversationId: string): Promise<Session>;
  /** Appends turns, trims history to the configured maximum and refreshes the TTL. */
  append(conversationId: string, turns: Turn[]): Promise<void>;
  /**
   * `get` of several conversations in one round trip (a master's batch). A conversation whose read failed maps to its
   * error; the store being unreachable throws.
   */
  getMany?(conversationIds: string[]): Promise<Map<string, Session | AppError>>;
  /** `append` to several conversations in one round trip (a master's batch); a failure fails them all. */
  appendMany?(entries: [conversationId: string, turns: Turn[]][]): Promise<void>;
  /** Shallow-merges state keys and refreshes the TTL. */
  setState(conversationId: string, patch: Record<string, unknown>): Promise<void>;
  delete(conversationId: string): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Options shared by every session store. */
export interface SessionOptions {
  ttlSeconds: number;
  maxTurns: number;
}

/** An empty session for a conversation never seen (or expired). */
export function emptySession(conversationId: string): Session {
  return { conversationId, turns: [], state: {}, updatedAt: null };
}
