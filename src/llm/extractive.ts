/** A passage the extractive fallback may quote. */
export interface QuotablePassage {
  label: string;
  title: string;
  section: string;
  text: string;
}

/** First sentences of a passage up to `maxChars`, without Markdown decoration. */
export function leadSentences(text: string, maxChars = 320): string {
  const plain = text
    .replace(/```[\s\S]*?```/g, " ")
    .replace(/^#+\s.*$/gm, " ")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[*_`>|]/g, "")
    .replace(/^\s*[-+]\s+/gm, "")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/^…\s*|\s*…$/g, ""); // the marks of a passage trimmed to its relevant part
  const sentences = plain.match(/[^.!?]+[.!?]+(?=\s|$)|[^.!?]+$/g) ?? [plain];
  let out = "";
  for (const s of sentences) {
    if (out && out.length + s.length > maxChars) break;
    out += s;
    if (out.length >= maxChars) break;
  }
  out = out.trim();
  return out.length > maxChars ? `${out.slice(0, maxChars - 1).trimEnd()}…` : out;
}

/**
 * The answer when no generator is available: a lead sentence that says it was assembled automatically, then the
 * opening sentences of the best passages, each cited. It invents nothing, because it only quotes.
 */
export function extractiveAnswer(lead: string, passages: QuotablePassage[], max = 2): string {
  const parts = passages.slice(0, max).map((p) => {
    const where = [p.title, p.section].filter(Boolean).join(" › ");
    return `• ${where ? `${where}: ` : ""}${leadSentences(p.text)} [${p.label}]`;
  });
  return [lead, ...parts].join("\n");
}
