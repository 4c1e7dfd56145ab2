import { createHash } from "node:crypto";

/** sha256 hex prefix used for content hashes (documents and chunks). */
export function contentHash(s: string, len = 16): string {
  return createHash("sha256").update(s).digest("hex").slice(0, len);
}

/** URL-ish slug for stable ids. */
export function slug(s: string): string {
  return s
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 80);
}

const STOP = new Set(
  ("a an and are as at be been but by can could do does did for from had has have how i if in into is it its me my " +
    "of on or our so than that the their them then there these they this to was we were what when where which who why " +
    "will with would you your yours am any all also just about up out get got im ive dont cant").split(" "),
);

/** Light English stemmer (plural/-ing/-ed/-ly folding); BM25 only needs query and document forms to meet. */
export function stem(w: string): string {
  if (w.length <= 3 || /\d/.test(w)) return w;
  if (w.endsWith("ies") && w.length > 4) return w.slice(0, -3) + "y";
  if (w.endsWith("sses")) return w.slice(0, -2);
  if (w.endsWith("ing") && w.length > 5) return undouble(w.slice(0, -3));
  if (w.endsWith("ed") && w.length > 4) return undouble(w.slice(0, -2));
  if (w.endsWith("ly") && w.length > 4) return w.slice(0, -2);
  if (w.endsWith("es") && /(ch|sh|x|z|ss)es$/.test(w)) return w.slice(0, -2);
  if (w.endsWith("s") && !w.endsWith("ss") && !w.endsWith("us") && !w.endsWith("is")) return w.slice(0, -1);
  return w;
}

function undouble(w: string): string {
  if (w.length > 3 && w[w.length - 1] === w[w.length - 2] && !/[lsz]/.test(w[w.length - 1]!)) return w.slice(0, -1);
  if (w.endsWith("at") || w.endsWith("iz") || w.endsWith("bl")) return w + "e";
  return w;
}

/** Lowercase alphanumeric tokens, stop words dropped, lightly stemmed. */
export function tokenize(s: string): string[] {
  const out: string[] = [];
  for (const m of s.toLowerCase().normalize("NFKD").matchAll(/[a-z0-9]+/g)) {
    const w = m[0];
    if (STOP.has(w)) continue;
    out.push(stem(w));
  }
  return out;
}

/** Splits prose into sentences (keeps the terminator); good enough for chunk boundaries and overlap. */
export function sentences(s: string): string[] {
  const parts = s.match(/[^.!?\n]+(?:[.!?]+["')\]]*|\n+|$)\s*/g);
  return (parts ?? [s]).filter((p) => p.trim().length > 0);
}
