/** A passage as given to the model, labelled `P1`, `P2`... in the prompt. */
export interface LabelledPassage {
  label: string;
  chunk_id: string;
  doc_id: string;
  title: string;
  section: string;
  source: string;
  url?: string;
  text: string;
  score: number | null;
}

/** A citation that survived the check: it points at a passage that was retrieved for this message. */
export interface Citation extends Omit<LabelledPassage, "text" | "score"> {
  /** Footnote number in `annotated` (1-based, in order of first use). */
  n: number;
}

/** The checked reply: clean text for the customer, annotated text for the agent, kept and dropped citations. */
export interface CheckedCitations {
  text: string;
  annotated: string;
  citations: Citation[];
  /** Markers the model wrote that match no retrieved passage (invented ids), as written. */
  dropped: string[];
}

// `[P1]`, `[P1, P3]`, `[p2][P4]`, `[1]`, and chunk ids such as `[faq/cards#lost-card:0]`.
const MARKER = /\s?\[([^\][\n]{1,120})\]/g;

/**
 * Checks the model's citation markers against what was retrieved: known labels (or exact chunk ids, or a bare
 * number n for Pn) are kept and numbered as footnotes; anything else in citation shape is dropped from the text
 * and reported. Placeholders like `[EMAIL_1]` are left alone.
 */
export function checkCitations(reply: string, passages: LabelledPassage[]): CheckedCitations {
  const byLabel = new Map(passages.map((p) => [p.label.toUpperCase(), p]));
  const byChunk = new Map(passages.map((p) => [p.chunk_id, p]));
  const used = new Map<string, Citation>();
  const dropped: string[] = [];
  const resolve = (token: string): LabelledPassage | null | undefined => {
    // `Passage id="P1"`, `Passage ID: P1`, `Passage 1`: a small model's ways of writing a passage id.
    const t = token.trim().replace(/^passage\s*(?:id)?\s*[:=]?\s*"?(P?\d{1,3})"?$/i, (_, id: string) => (/^\d/.test(id) ? `P${id}` : id));
    if (/^P\d{1,3}$/i.test(t)) return byLabel.get(t.toUpperCase()) ?? null;
    if (/^\d{1,3}$/.test(t)) return byLabel.get(`P${Number(t)}`) ?? null;
    if (byChunk.has(t)) return byChunk.get(t)!;
    if (/^(?:passage|source|doc|ref)\b/i.test(t) || /^Pass\s*\d+$/i.test(t)) return null;
    return undefined;
  };
  const cite = (p: LabelledPassage): Citation => {
    let c = used.get(p.label);
    if (!c) {
      c = { n: used.size + 1, label: p.label, chunk_id: p.chunk_id, doc_id: p.doc_id, title: p.title, section: p.section, source: p.source, ...(p.url ? { url: p.url } : {}) };
      used.set(p.label, c);
    }
    return c;
  };
  const annotatedParts: string[] = [];
  const cleanParts: string[] = [];
  let last = 0;
  for (const m of reply.matchAll(MARKER)) {
    const inner = m[1]!;
    if (/^(?:CARD|IBAN|ACCOUNT|SORT_CODE|EMAIL|PHONE)_\d+$/.test(inner)) continue;
    const tokens = inner.split(/\s*[,;]\s*/);
    const resolved = tokens.map(resolve);
    if (resolved.every((r) => r === undefined)) continue;
    annotatedParts.push(reply.slice(last, m.index));
    cleanParts.push(reply.slice(last, m.index));
    last = m.index + m[0].length;
    const notes: number[] = [];
    resolved.forEach((r, i) => {
      if (r) notes.push(cite(r).n);
      else dropped.push(tokens[i]!.trim());
    });
    if (notes.length) annotatedParts.push(` ${notes.map((n) => `[${n}]`).join("")}`);
  }
  annotatedParts.push(reply.slice(last));
  cleanParts.push(reply.slice(last));
  const tidy = (s: string) => s.replace(/[ \t]+([.,;:!?])/g, "$1").replace(/[ \t]{2,}/g, " ").trim();
  return { text: tidy(cleanParts.join("")), annotated: tidy(annotatedParts.join("")), citations: [...used.values()], dropped };
}
