/** Answer overlap of drafts with a gold answer (pure, so the test can check it): token-F1 as in SQuAD. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const words = (s: string) => s.toLowerCase().normalize("NFKC").match(/\p{L}+|\p{N}+/gu) ?? [];

/** Bag-of-words F1 between a draft and one reference answer (0 when either is empty). */
export function tokenF1(draft: string, reference: string): number {
  const d = words(draft);
  const r = words(reference);
  if (d.length === 0 || r.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const w of r) counts.set(w, (counts.get(w) ?? 0) + 1);
  let common = 0;
  for (const w of d) {
    const c = counts.get(w) ?? 0;
    if (c > 0) {
      common++;
      counts.set(w, c - 1);
    }
  }
  if (common === 0) return 0;
  const p = common / d.length;
  const rec = common / r.length;
  return (2 * p * rec) / (p + rec);
}

/** The draft's answer overlap: the best token-F1 against any of the gold thread's answers. */
export function draftAnswerF1(draft: string, answers: string[]): number {
  return answers.reduce((best, a) => Math.max(best, tokenF1(draft, a)), 0);
}

const PHRASES_FILE = fileURLToPath(new URL("../../src/llm/prompts/reply/v2/phrases.json", import.meta.url));

/**
 * The draft without the composer's fixed parts (greeting, thanks, follow-up, next step, sign-off in every language),
 * so answer overlap compares what the draft says about the question, whichever composer wrote it.
 */
export function answerPart(draft: string, phrasesFile = PHRASES_FILE): string {
  const phrases = JSON.parse(readFileSync(phrasesFile, "utf8")) as Record<string, Record<string, string>>;
  let out = draft;
  for (const p of Object.values(phrases)) {
    for (const [k, v] of Object.entries(p)) {
      if (k === "name" || k === "clarify") continue;
      const re = new RegExp(v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\\\{\\\{\w+\\\}\\\}/g, "[^\\n]*"), "g");
      out = out.replace(re, " ");
    }
  }
  return out.replace(/\s+/g, " ").trim();
}
