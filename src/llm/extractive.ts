/**
 * The draft when no model text can be used: a reply an agent could send as is, assembled only from fixed phrases in
 * the customer's language and sentences quoted from the best help-article passage, so it invents nothing.
 */
import { tokenize } from "../rag/text.ts";
import type { LanguagePhrases } from "./prompts.ts";

/** A passage the extractive composer may quote. */
export interface QuotablePassage {
  label: string;
  title: string;
  section: string;
  text: string;
}

/**
 * Passage text as plain prose, one paragraph a line: Markdown decoration removed, hard-wrapped lines rejoined, list
 * items and table rows turned into sentences of their own (a table's header and rule are dropped, a row's cells are
 * joined), the cut marks of a trimmed passage dropped.
 */
export function plainText(text: string): string {
  const lines = text.replace(/^---\n[\s\S]*?\n---\n/, "").replace(/```[\s\S]*?```/g, " ").split("\n");
  const paras: string[] = [];
  let open = false; // the last paragraph may continue on the next line
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!.trim();
    if (!l || /^#+\s/.test(l)) {
      open = false;
      continue;
    }
    if (l.startsWith("|")) {
      open = false;
      if (/^\|[\s:|-]+\|?$/.test(l) || /^\|[\s:|-]+\|?$/.test(lines[i + 1]?.trim() ?? "")) continue; // rule or header
      paras.push(`${l.split("|").map((c) => c.trim()).filter(Boolean).join(", ")}.`);
      continue;
    }
    if (/^(?:[-+*]|\d+[.)])\s+/.test(l)) {
      paras.push(l.replace(/^(?:[-+*]|\d+[.)])\s+/, ""));
      open = true;
      continue;
    }
    if (open && paras.length) paras[paras.length - 1] += ` ${l}`;
    else paras.push(l);
    open = true;
  }
  return paras
    .map((p) => (/[.!?:;…]$/.test(p) ? p : `${p}.`))
    .join("\n")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[*_`>]/g, "")
    .replace(/^…\s*|\s*…\.?$/gm, "")
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

/** Sentences of one paragraph: a stop ends one only before a space or the end, so "£1.50" and URLs stay whole. */
export function proseSentences(paragraph: string): string[] {
  return (paragraph.match(/(?:[^.!?]|[.!?]+(?![\s"')\]]|$))+(?:[.!?]+["')\]]*)?/g) ?? []).map((s) => s.replace(/\s+/g, " ").trim()).filter(Boolean);
}

/**
 * The sentences of `text` that answer `query`: the sentence sharing the most content words with the query (ties go
 * to the earlier one; with no overlap at all, the opening sentence), then the sentences after it in the same
 * paragraph while each adds a query word not yet covered or continues the previous one ("It", "Then"…), up to
 * `maxSentences` and `maxChars`. Quoting one paragraph keeps the answer from pulling in an unrelated section.
 */
export function answerSentences(text: string, query: string, maxSentences = 3, maxChars = 420): string {
  const sents: { text: string; para: number }[] = [];
  plainText(text)
    .split("\n")
    .forEach((p, para) => {
      for (const s of proseSentences(p)) if (s.length > 1) sents.push({ text: s, para });
    });
  if (sents.length === 0) return "";
  const q = new Set(tokenize(query));
  const hits = sents.map((s) => new Set(tokenize(s.text).filter((w) => q.has(w))));
  let anchor = 0;
  for (let i = 1; i < sents.length; i++) if (hits[i]!.size > hits[anchor]!.size) anchor = i;
  const continues = (s: string) => /^(?:it|this|that|these|those|then|they|you|we|there|if so|once|after that|otherwise)\b/i.test(s);
  const covered = new Set(hits[anchor]);
  const out = [sents[anchor]!.text];
  let len = out[0]!.length;
  for (let i = anchor + 1; i < sents.length && out.length < maxSentences; i++) {
    const s = sents[i]!;
    if (s.para !== sents[anchor]!.para || len + 1 + s.text.length > maxChars) break;
    if (![...hits[i]!].some((w) => !covered.has(w)) && !continues(s.text)) break;
    for (const w of hits[i]!) covered.add(w);
    out.push(s.text);
    len += 1 + s.text.length;
  }
  const quote = out.join(" ");
  return quote.length > maxChars ? `${quote.slice(0, maxChars - 1).trimEnd()}…` : quote;
}

/** Fills `{{name}}`-style slots of a fixed phrase. */
const fill = (s: string, v: Record<string, string>) => s.replace(/\{\{(\w+)\}\}/g, (_, k: string) => v[k] ?? "");

/** The customer's first name when it looks like one ("Emma", "Jean-Luc"; not "ACME", not an address), else null. */
export function firstName(name: string | null | undefined): string | null {
  const first = (name ?? "").trim().split(/\s+/)[0] ?? "";
  return first.length <= 40 && /^\p{Lu}\p{Ll}+(?:[-'’]\p{Lu}?\p{Ll}+)*$/u.test(first) ? first : null;
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

/** A ranked passage as the see-also rule reads it. */
export interface ScoredPassage {
  doc_id: string;
  score: number | null;
}

/**
 * The runner-up worth naming beside the quoted passage: the second passage when it comes from another document and
 * its cosine is within `gap` of the first's, i.e. when retrieval cannot tell the two apart. Chosen on kb/northwind,
 * ABCD and a Banking77 FAQ: below a gap of 0.015 the second passage is the answer at least half as often as the first
 * (docs/benchmarks.md, "Issue 12 — gold cited, third pass"). Null when there is no such passage or `gap` is negative.
 */
export function seeAlsoIndex(passages: readonly ScoredPassage[], gap: number): 1 | null {
  const [a, b] = passages;
  if (gap < 0 || !a || !b || a.score === null || b.score === null || a.doc_id === b.doc_id) return null;
  return b.score >= a.score - gap ? 1 : null;
}

/** How a see-also article is named to the customer: its section with the page in brackets, or the page title. */
export function articleName(p: Pick<QuotablePassage, "title" | "section">): string {
  const section = p.section.split(" > ").pop()?.trim() ?? "";
  return section && p.title && section !== p.title ? `${section} (${p.title})` : p.title || section;
}

/**
 * The extractive reply: greeting, the sentences of the best passage that answer the question with its citation mark,
 * the next step and a sign-off. Only the best passage is quoted: a second passage is usually another topic. When
 * retrieval could not separate the first two (`seeAlso`, see {@link seeAlsoIndex}), the second is named and cited in
 * one fixed sentence, not quoted, so the customer (and the agent reviewing) sees the other likely article.
 */
export function composeExtractive(v: { phrases: LanguagePhrases; name?: string | null; company: string; query: string; passage: QuotablePassage; seeAlso?: QuotablePassage | null; maxSentences?: number }): string {
  const answer = answerSentences(v.passage.text, v.query, v.maxSentences ?? 3);
  // A title ending in "?" or "." does not take the phrase's own full stop.
  const also = v.seeAlso && v.phrases.see_also ? ` ${fill(v.phrases.see_also, { article: articleName(v.seeAlso) }).replace(/([.?!…])\.$/, "$1")} [${v.seeAlso.label}]` : "";
  return [greeting(v.phrases, v.name), `${v.phrases.thanks} ${answer} [${v.passage.label}]${also}`, v.phrases.next_step, signOff(v.phrases, v.company)].join("\n\n");
}

/** The holding reply when the knowledge base has no answer: greeting, honest follow-up promise, one question, sign-off. */
export function composeHolding(v: { phrases: LanguagePhrases; name?: string | null; company: string; question: string }): string {
  return [greeting(v.phrases, v.name), `${v.phrases.follow_up} ${v.question}`, signOff(v.phrases, v.company)].join("\n\n");
}
