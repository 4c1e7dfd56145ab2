import { Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { Session, Turn } from "../../session/interface.ts";
import type { Redactor } from "./redact.ts";

/** What the response agent keeps in the session state (under these keys only). */
export interface ReplyMemoryState {
  /** Rolling summary of the turns older than the recent window, already redacted. */
  reply_summary?: { text: string; through: string | null; turns: number };
  /** The conversation's reply language (ISO 639-1). */
  reply_language?: string;
  /** Recent replies by customer message id, with their status (drafts, sent, approved). */
  reply_log?: { message_id: string; text: string; status: string; at: string }[];
}

const ReplyMemorySchema = {
  reply_summary: Type.Object({ text: Type.String(), through: Type.Union([Type.String(), Type.Null()]), turns: Type.Number() }),
  reply_language: Type.String(),
  reply_log: Type.Array(Type.Object({ message_id: Type.String(), text: Type.String(), status: Type.String(), at: Type.String() })),
};

/**
 * The response agent's part of a session's state, each key checked against its shape: the state comes back from
 * Redis, and a key of another shape (an older version's, a corrupted write) is read as absent, not cast.
 */
export function replyMemoryOf(state: Readonly<Record<string, unknown>>): ReplyMemoryState {
  const out: ReplyMemoryState = {};
  if (Value.Check(ReplyMemorySchema.reply_summary, state.reply_summary)) out.reply_summary = state.reply_summary;
  if (Value.Check(ReplyMemorySchema.reply_language, state.reply_language)) out.reply_language = state.reply_language;
  if (Value.Check(ReplyMemorySchema.reply_log, state.reply_log)) out.reply_log = state.reply_log;
  return out;
}

const STOP: Record<string, string[]> = {
  // Short English words that other languages share ("a", "in", "e"...) keep a short English question from scoring
  // as Portuguese or Italian: a tie means "unsure", and the conversation keeps its language.
  en: "the and you your is are to of for with my have not this that please can what how a an in on at it i do does be or if me we why when where there from by was will".split(" "),
  es: "el la los las que de y en por para con mi mis no es una un por favor cómo qué tengo".split(" "),
  fr: "le la les et de des en pour avec mon ma mes ne pas est une un je vous svp comment".split(" "),
  de: "der die das und ist nicht ich sie mit für mein meine ein eine bitte wie was habe".split(" "),
  pt: "o a os as que de e em para com meu minha não é uma um por favor como tenho".split(" "),
  it: "il lo la gli le che di e in per con mio mia non è una un per favore come ho".split(" "),
  nl: "de het een en is niet ik u met voor mijn van op dat hoe wat graag heb".split(" "),
};

/**
 * Guesses the language of a message from function words; returns null when the text is too short or ambiguous,
 * so a conversation keeps its earlier language on "ok thanks".
 */
export function detectLanguage(text: string): string | null {
  const words = text.toLowerCase().normalize("NFC").match(/\p{L}+/gu) ?? [];
  if (words.length < 3) return null;
  const scores = Object.entries(STOP).map(([lang, list]) => [lang, words.filter((w) => list.includes(w)).length] as const);
  scores.sort((a, b) => b[1] - a[1]);
  const [best, second] = scores;
  if (!best || best[1] < 2 || best[1] < (second?.[1] ?? 0) * 1.5) return null;
  return best[0];
}

const clip = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1).trimEnd()}…`);
const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();

/** Options of the conversation memory. */
/** What `prepareMemory` returns when there is no summary / no earlier turn. */
export const NO_SUMMARY = "(none)";
export const NO_HISTORY = "(no earlier messages)";

export interface MemoryOptions {
  /** Recent turns given verbatim. */
  recentTurns: number;
  /** Characters the rolling summary may take; older lines are dropped first. */
  summaryBudgetChars: number;
}

/** The memory handed to the prompt: redacted recent history and summary, plus the state to save. */
export interface PreparedMemory {
  history: string;
  summary: string;
  /** New state to persist when the summary moved forward (null when unchanged). */
  summaryUpdate: ReplyMemoryState["reply_summary"] | null;
  turnsUsed: number;
}

/**
 * Builds the prompt memory from the session: the last N turns before this message (customer turns interleaved
 * with the replies that were sent or approved), and a rolling summary that absorbs older turns once the history
 * grows past the window. The summary is extractive (no model call on the hot path) and redacted like the rest.
 */
export function prepareMemory(session: Session, currentMessageId: string, redactor: Redactor, o: MemoryOptions): PreparedMemory {
  const state = replyMemoryOf(session.state);
  const replies = new Map((state.reply_log ?? []).filter((r) => r.status === "approved" || r.status === "auto_sent" || r.status === "edited").map((r) => [r.message_id, r]));
  const turns: Turn[] = [];
  for (const t of session.turns) {
    if (t.message_id === currentMessageId) continue;
    turns.push(t);
    const r = t.role === "customer" && t.message_id ? replies.get(t.message_id) : undefined;
    if (r) turns.push({ role: "agent", text: r.text, at: r.at });
  }
  const recent = turns.slice(-o.recentTurns);
  const older = turns.slice(0, Math.max(0, turns.length - o.recentTurns));
  const line = (t: Turn) => {
    const who = t.role === "customer" ? "Customer" : t.role === "agent" ? "Us" : "Note";
    const intent = typeof t.meta?.intent === "string" ? ` (${t.meta.intent})` : "";
    return `${who}${intent}: ${oneLine(redactor.redact(t.text))}`;
  };
  const history = recent.map((t) => clip(line(t), 600)).join("\n");

  let summaryState = state.reply_summary ?? null;
  let summaryUpdate: PreparedMemory["summaryUpdate"] = null;
  const lastOlder = older[older.length - 1];
  const through = lastOlder ? (lastOlder.message_id ?? lastOlder.at) : null;
  if (older.length && summaryState?.through !== through) {
    const fresh = summaryState ? older.slice(older.findIndex((t) => (t.message_id ?? t.at) === summaryState!.through) + 1) : older;
    // Placeholder numbers are per draft: the stored summary keeps only the kind ("an email"), never a number.
    const generic = (s: string) => s.replace(/\[(CARD|IBAN|ACCOUNT|SORT_CODE|EMAIL|PHONE)_\d+\]/g, (_, k: string) => `(${k.toLowerCase().replace("_", " ")})`);
    const lines = [...(summaryState?.text ? summaryState.text.split("\n") : []), ...fresh.map((t) => clip(generic(line(t)), 160))];
    while (lines.join("\n").length > o.summaryBudgetChars && lines.length > 1) lines.shift();
    summaryState = { text: clip(lines.join("\n"), o.summaryBudgetChars), through, turns: (summaryState?.turns ?? 0) + fresh.length };
    summaryUpdate = summaryState;
  }
  return { history: history || NO_HISTORY, summary: summaryState?.text || NO_SUMMARY, summaryUpdate, turnsUsed: recent.length };
}

/** Appends a reply to the bounded reply log (newest last), replacing an earlier entry for the same message. */
export function logReply(log: ReplyMemoryState["reply_log"], entry: NonNullable<ReplyMemoryState["reply_log"]>[number], max = 20): NonNullable<ReplyMemoryState["reply_log"]> {
  return [...(log ?? []).filter((r) => r.message_id !== entry.message_id), entry].slice(-max);
}
