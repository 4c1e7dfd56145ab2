import type { Turn } from "../session/interface.ts";
import { tokenize } from "./text.ts";

/** The query actually searched, and whether earlier customer turns were folded in. */
export interface ContextualQuery {
  query: string;
  rewritten: boolean;
  /** The earlier customer texts that were prepended (most recent last). */
  context: string[];
}

const FOLLOW_UP_START = /^\s*(and|but|also|so|then|ok(ay)?|what about|how about|what if|same for|plus|or)\b/i;
const ANAPHORA = /\b(it|its|that|this|those|these|they|them|there|one|ones|he|she|so)\b/i;

/**
 * True when a message reads as a continuation of the previous one ("and how long does that take?"): it starts
 * with a connective, or it is short and leans on a pronoun, or it has almost no content words of its own.
 */
export function isFollowUp(text: string): boolean {
  const content = tokenize(text).length;
  if (content <= 1) return true;
  if (FOLLOW_UP_START.test(text)) return true;
  return content <= 6 && ANAPHORA.test(text);
}

/**
 * Builds the retrieval query for a message in a conversation: a follow-up is searched together with the recent
 * customer turns (at most `maxTurns`, newest last), a self-contained message on its own.
 */
export function contextualQuery(text: string, turns: readonly Turn[], opts: { maxTurns?: number; messageId?: string; maxChars?: number } = {}): ContextualQuery {
  const maxTurns = opts.maxTurns ?? 2;
  if (!isFollowUp(text)) return { query: text, rewritten: false, context: [] };
  const previous = turns.filter((t) => t.role === "customer" && t.text.trim() && (opts.messageId === undefined || t.message_id !== opts.messageId) && t.text.trim() !== text.trim());
  if (previous.length === 0) return { query: text, rewritten: false, context: [] };
  const context: string[] = [];
  for (let i = previous.length - 1; i >= 0 && context.length < maxTurns; i--) {
    context.unshift(previous[i]!.text.trim());
    // An earlier turn that stands on its own is enough context; older ones would only dilute the query.
    if (!isFollowUp(previous[i]!.text)) break;
  }
  const maxChars = opts.maxChars ?? 1000;
  const query = `${context.join(" ")} ${text.trim()}`;
  return { query: query.length > maxChars ? query.slice(query.length - maxChars) : query, rewritten: true, context };
}
