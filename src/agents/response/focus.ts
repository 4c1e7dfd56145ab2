/**
 * Query-focused passage trimming. Prompt evaluation is most of a small CPU model's time to first token (about 6–7 ms
 * per prompt token on 2 cores), so each retrieved passage is cut to the run of consecutive sentences that shares the
 * most words with the customer's message, within a character budget, instead of to its first N characters.
 */
import { sentences, tokenize } from "../../rag/text.ts";

const split = (text: string) => sentences(text).map((x) => x.replace(/\s+/g, " ").trim()).filter(Boolean);

/**
 * The part of `text` most relevant to `query`, at most `maxChars` long: the window of consecutive sentences with the
 * highest overlap with the query's content words (ties go to the earlier window, which carries the passage's gist).
 * Text that already fits is returned unchanged; a cut is marked with "…" at the side(s) where text was left out.
 */
export function focusPassage(text: string, query: string, maxChars: number): string {
  const trimmed = text.trim();
  if (trimmed.length <= maxChars) return trimmed;
  const sents = split(trimmed);
  const q = new Set(tokenize(query));
  const score = sents.map((s) => {
    const seen = new Set<string>();
    for (const w of tokenize(s)) if (q.has(w)) seen.add(w);
    return seen.size;
  });
  let best = { from: 0, to: 0, score: -1 };
  for (let from = 0; from < sents.length; from++) {
    let len = 0;
    let sc = 0;
    let to = from;
    while (to < sents.length && len + sents[to]!.length + (to > from ? 1 : 0) <= maxChars) {
      len += sents[to]!.length + (to > from ? 1 : 0);
      sc += score[to]!;
      to++;
    }
    if (to === from) continue; // this sentence alone is longer than the budget
    if (sc > best.score) best = { from, to, score: sc };
  }
  if (best.score < 0) {
    // Every sentence is longer than the budget: cut the best one.
    const i = score.indexOf(Math.max(...score));
    return `${sents[i]!.slice(0, maxChars - 1).trimEnd()}…`;
  }
  const body = sents.slice(best.from, best.to).join(" ");
  return `${best.from > 0 ? "… " : ""}${body}${best.to < sents.length ? " …" : ""}`;
}
