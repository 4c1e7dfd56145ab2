/**
 * The draft when no model text can be used: a reply an agent could send as is, assembled only from fixed phrases in
 * the customer's language and sentences quoted from the best help-article passage, so it invents nothing.
 */
import { sentences, tokenize } from "../rag/text.ts";
import type { LanguagePhrases } from "./prompts.ts";

/** A passage the extractive composer may quote. */
export interface QuotablePassage {
  label: string;
  title: string;
  section: string;
  text: string;
}

/**
 * Passage text as plain prose: Markdown decoration removed, list items and table rows turned into sentences (a table's
 * header and rule are dropped, a row's cells are joined), the cut marks of a trimmed passage dropped.
 */
export function plainText(text: string): string {
  const lines = text.replace(/```[\s\S]*?```/g, " ").split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!.trim();
    if (!l || /^#+\s/.test(l)) continue;
    if (l.startsWith("|")) {
      if (/^\|[\s:|-]+\|?$/.test(l) || /^\|[\s:|-]+\|?$/.test(lines[i + 1]?.trim() ?? "")) continue; // rule or header
      l = `${l.split("|").map((c) => c.trim()).filter(Boolean).join(", ")}.`;
    } else if (/^(?:[-+*]|\d+[.)])\s+/.test(l)) {
      l = l.replace(/^(?:[-+*]|\d+[.)])\s+/, "");
      if (!/[.!?:;]$/.test(l)) l += ".";
    }
    out.push(l);
  }
  return out
    .join("\n")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[*_`>]/g, "")
    .replace(/\s+—\s+/g, " — ")
    .replace(/^…\s*|\s*…$/gm, "")
    .trim();
}

/** First sentences of a passage up to `maxChars`, without Markdown decoration. */
export function leadSentences(text: string, maxChars = 320): string {
  const plain = plainText(text).replace(/\s+/g, " ");
  const sents = plain.match(/[^.!?]+[.!?]+(?=\s|$)|[^.!?]+$/g) ?? [plain];
  let out = "";
  for (const s of sents) {
    if (out && out.length + s.length > maxChars) break;
    out += s;
    if (out.length >= maxChars) break;
  }
  out = out.trim();
  return out.length > maxChars ? `${out.slice(0, maxChars - 1).trimEnd()}…` : out;
}

/**
 * The sentences of `text` that answer `query`: the run of at most `maxSentences` consecutive sentences (within
 * `maxChars`) covering the most distinct content words of the query, so the quote keeps its context ("it", "then")
 * and never pulls in an unrelated section. A run grows only by a sentence that covers a new query word or continues
 * the previous one, and starts at a matching sentence; ties go to the earlier run; with no overlap at all, the
 * opening sentences.
 */
export function answerSentences(text: string, query: string, maxSentences = 3, maxChars = 420): string {
  const sents = sentences(plainText(text))
    .map((s) => s.replace(/\s+/g, " ").trim())
    .filter((s) => s.length > 1);
  if (sents.length === 0) return "";
  const q = new Set(tokenize(query));
  const hits = sents.map((s) => new Set(tokenize(s).filter((w) => q.has(w))));
  const continues = (s: string) => /^(?:it|this|that|these|those|then|they|you|we|there|if so|once|after that)\b/i.test(s);
  const anyHit = hits.some((h) => h.size > 0);
  let best = { from: 0, to: 0, score: -1 };
  for (let from = 0; from < sents.length; from++) {
    // A quote starts at a sentence that matches the question (the opening one when none does).
    if (sents[from]!.length > maxChars || (anyHit && hits[from]!.size === 0)) continue;
    const covered = new Set(hits[from]);
    let len = sents[from]!.length;
    let to = from + 1;
    while (to < sents.length && to - from < maxSentences && len + 1 + sents[to]!.length <= maxChars) {
      const fresh = [...hits[to]!].some((w) => !covered.has(w));
      if (!fresh && !continues(sents[to]!)) break;
      for (const w of hits[to]!) covered.add(w);
      len += 1 + sents[to]!.length;
      to++;
    }
    if (covered.size > best.score) best = { from, to, score: covered.size };
  }
  if (best.score < 0) return `${sents[0]!.slice(0, maxChars - 1).trimEnd()}…`;
  return sents.slice(best.from, best.to).join(" ");
}

/** Fills `{{name}}`-style slots of a fixed phrase. */
const fill = (s: string, v: Record<string, string>) => s.replace(/\{\{(\w+)\}\}/g, (_, k: string) => v[k] ?? "");

/** The customer's first name when it looks like one (letters, hyphen, apostrophe), else null. */
export function firstName(name: string | null | undefined): string | null {
  const first = (name ?? "").trim().split(/\s+/)[0] ?? "";
  return /^\p{Lu}[\p{L}'’-]{0,40}$/u.test(first) ? first : null;
}

/** Greeting line in the customer's language, with their first name when known. */
export function greeting(p: LanguagePhrases, name: string | null | undefined): string {
  const n = firstName(name);
  return n ? fill(p.greeting, { name: n }) : p.greeting_anonymous;
}

/** Sign-off lines in the customer's language. */
export function signOff(p: LanguagePhrases, company: string): string {
  return `${p.sign_off}\n${fill(p.team, { company })}`;
}

/**
 * The extractive reply: greeting, the sentences of the best passage that answer the question with its citation mark,
 * the next step and a sign-off. Only the best passage is quoted: a second passage is usually another topic.
 */
export function composeExtractive(v: { phrases: LanguagePhrases; name?: string | null; company: string; query: string; passage: QuotablePassage; maxSentences?: number }): string {
  const answer = answerSentences(v.passage.text, v.query, v.maxSentences ?? 3);
  return [greeting(v.phrases, v.name), `${v.phrases.thanks} ${answer} [${v.passage.label}]`, v.phrases.next_step, signOff(v.phrases, v.company)].join("\n\n");
}

/** The holding reply when the knowledge base has no answer: greeting, honest follow-up promise, one question, sign-off. */
export function composeHolding(v: { phrases: LanguagePhrases; name?: string | null; company: string; question: string }): string {
  return [greeting(v.phrases, v.name), `${v.phrases.follow_up} ${v.question}`, signOff(v.phrases, v.company)].join("\n\n");
}
