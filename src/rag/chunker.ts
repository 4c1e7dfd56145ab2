import { contentHash, sentences, slug } from "./text.ts";
import type { Chunk, SourceDoc } from "./types.ts";

/** Chunk size and overlap in characters. */
export interface ChunkOptions {
  maxChars: number;
  overlapChars: number;
}

type BlockKind = "para" | "list" | "quote" | "code" | "table";

/** A structural unit of a Markdown body: never split unless it alone exceeds the chunk size. */
interface Block {
  kind: BlockKind;
  text: string;
}

interface Section {
  path: string[];
  blocks: Block[];
}

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const ATX = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$/;
const LIST_ITEM = /^\s*(?:[-*+]|\d{1,9}[.)])\s+/;
const TABLE_ROW = /^\s*\|.*\|?\s*$/;
const TABLE_SEP = /^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$/;

/** Parses simple `key: value` front matter (title, url, updated_at) and returns the body without it. */
export function frontMatter(md: string): { meta: Record<string, string>; body: string } {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(md);
  if (!m) return { meta: {}, body: md };
  const meta: Record<string, string> = {};
  for (const line of m[1]!.split(/\r?\n/)) {
    const kv = /^([A-Za-z_][\w-]*)\s*:\s*(.*)$/.exec(line);
    if (kv) meta[kv[1]!.toLowerCase()] = kv[2]!.trim().replace(/^["']|["']$/g, "");
  }
  return { meta, body: md.slice(m[0].length) };
}

/**
 * Splits Markdown into sections by heading, each a list of blocks. Headings inside fenced code are code, tables and
 * lists stay whole, and the first H1 becomes the title when the document has none.
 */
export function parseMarkdown(md: string): { title?: string; sections: Section[] } {
  const lines = md.replace(/<!--[\s\S]*?-->/g, "").split(/\r?\n/);
  const sections: Section[] = [];
  let title: string | undefined;
  const stack: { level: number; text: string }[] = [];
  let cur: Section = { path: [], blocks: [] };
  let buf: string[] = [];
  let bufKind: BlockKind | null = null;

  const flush = () => {
    if (bufKind && buf.length) {
      const text = bufKind === "code" ? buf.join("\n") : buf.join("\n").trim();
      if (text) cur.blocks.push({ kind: bufKind, text });
    }
    buf = [];
    bufKind = null;
  };
  const heading = (level: number, text: string) => {
    flush();
    if (level === 1 && title === undefined && sections.length === 0 && cur.blocks.length === 0 && stack.length === 0) {
      title = text;
      return;
    }
    if (cur.blocks.length) sections.push(cur);
    while (stack.length && stack[stack.length - 1]!.level >= level) stack.pop();
    stack.push({ level, text });
    cur = { path: stack.map((s) => s.text), blocks: [] };
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const marker = fence[1]!;
      const code = [line];
      let j = i + 1;
      for (; j < lines.length; j++) {
        code.push(lines[j]!);
        const close = new RegExp(`^ {0,3}${marker[0] === "`" ? "`" : "~"}{${marker.length},}\\s*$`);
        if (close.test(lines[j]!)) break;
      }
      if (j >= lines.length) code.push(marker);
      cur.blocks.push({ kind: "code", text: code.join("\n") });
      i = j;
      continue;
    }
    const atx = ATX.exec(line);
    if (atx && (atx[2] ?? "").length > 0) {
      heading(atx[1]!.length, atx[2]!.trim());
      continue;
    }
    if (line.trim() === "") {
      flush();
      continue;
    }
    // Setext heading: one paragraph line underlined with === or ---.
    if (bufKind === "para" && buf.length === 1 && /^ {0,3}(=+|-+)\s*$/.test(line)) {
      const text = buf[0]!.trim();
      buf = [];
      bufKind = null;
      heading(line.trim().startsWith("=") ? 1 : 2, text);
      continue;
    }
    if (/^ {0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flush();
      continue;
    }
    const isTable: boolean = TABLE_ROW.test(line) && (bufKind === "table" || TABLE_SEP.test(lines[i + 1] ?? ""));
    const kind: BlockKind = isTable
      ? "table"
      : LIST_ITEM.test(line) || (bufKind === "list" && /^\s{2,}\S/.test(line))
        ? "list"
        : /^ {0,3}>/.test(line)
          ? "quote"
          : "para";
    if (bufKind !== null && bufKind !== kind && !(bufKind === "list" && kind === "para" && /^\s/.test(line))) flush();
    if (bufKind === null) bufKind = kind;
    buf.push(line);
  }
  flush();
  if (cur.blocks.length) sections.push(cur);
  return { title, sections };
}

/** Splits one oversized block into pieces no longer than max, along its natural seams. */
function splitBlock(b: Block, max: number): Block[] {
  if (b.text.length <= max) return [b];
  if (b.kind === "table") {
    const rows = b.text.split("\n");
    const head = TABLE_SEP.test(rows[1] ?? "") ? rows.slice(0, 2) : rows.slice(0, 1);
    return packLines(rows.slice(head.length), max - head.join("\n").length - 1).map((body) => ({ kind: "table", text: [...head, body].join("\n") }));
  }
  if (b.kind === "code") {
    const lines = b.text.split("\n");
    const open = lines[0]!;
    const close = lines[lines.length - 1]!;
    return packLines(lines.slice(1, -1), max - open.length - close.length - 2).map((body) => ({ kind: "code", text: `${open}\n${body}\n${close}` }));
  }
  if (b.kind === "list") {
    const items = b.text.split(/\n(?=\s*(?:[-*+]|\d{1,9}[.)])\s+)/);
    if (items.length > 1) return packPieces(items.flatMap((it) => (it.length > max ? proseSplit(it, max) : [it])), max, "\n").map((text) => ({ kind: "list", text }));
  }
  return proseSplit(b.text, max).map((text) => ({ kind: b.kind, text }));
}

function proseSplit(text: string, max: number): string[] {
  const pieces = sentences(text).flatMap((s) => (s.length > max ? hardSplit(s, max) : [s]));
  return packPieces(pieces, max, "");
}

function hardSplit(s: string, max: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (rest.length > max) {
    let cut = rest.lastIndexOf(" ", max);
    if (cut < max / 2) cut = max;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.trim()) out.push(rest);
  return out;
}

function packLines(lines: string[], max: number): string[] {
  return packPieces(lines.flatMap((l) => (l.length > max ? hardSplit(l, Math.max(40, max)) : [l])), Math.max(40, max), "\n");
}

function packPieces(pieces: string[], max: number, sep: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (const p of pieces) {
    if (cur && cur.length + sep.length + p.length > max) {
      out.push(cur.trim());
      cur = p;
    } else cur = cur ? cur + sep + p : p;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** The tail of a prose chunk (whole sentences, at most `chars`) repeated at the start of the next chunk. */
function overlapTail(text: string, chars: number): string {
  if (chars <= 0) return "";
  const sents = sentences(text);
  let tail = "";
  for (let i = sents.length - 1; i >= 0; i--) {
    const next = sents[i]! + tail;
    if (next.length > chars) break;
    tail = next;
  }
  return tail.trim();
}

/** The text a chunk is embedded and keyword-indexed as: document title and heading path give the passage its context. */
export function embedText(c: Pick<Chunk, "title" | "section" | "text">): string {
  return `${c.title}${c.section ? ` — ${c.section}` : ""}\n${c.text}`;
}

/** Converts HTML to Markdown-ish text (headings, paragraphs, lists, table rows) so the same chunker applies. */
export function htmlToMarkdown(html: string): { title?: string; md: string } {
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1];
  let s = html
    .replace(/<(script|style|noscript|head|nav|footer)[\s\S]*?<\/\1>/gi, "")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<h([1-6])[^>]*>([\s\S]*?)<\/h\1>/gi, (_, l, t) => `\n\n${"#".repeat(Number(l))} ${t.replace(/<[^>]+>/g, "").replace(/\s+/g, " ").trim()}\n\n`)
    .replace(/<pre[^>]*>([\s\S]*?)<\/pre>/gi, (_, t) => `\n\n\`\`\`\n${t.replace(/<[^>]+>/g, "")}\n\`\`\`\n\n`)
    .replace(/<li[^>]*>/gi, "\n- ")
    .replace(/<tr[^>]*>/gi, "\n|")
    .replace(/<\/t[dh]>/gi, " |")
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/(p|div|section|article|ul|ol|table|blockquote)>/gi, "\n\n")
    .replace(/<[^>]+>/g, "");
  s = decodeEntities(s)
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n");
  return { title: title ? decodeEntities(title).trim() : undefined, md: s.trim() };
}

function decodeEntities(s: string): string {
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === "#") {
      const n = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(n) ? String.fromCodePoint(n) : m;
    }
    return named[e.toLowerCase()] ?? m;
  });
}

/**
 * Structure-aware chunking: sections by heading, blocks kept whole (code, tables, lists), greedy packing up to
 * `maxChars`, and a sentence-aligned overlap between consecutive prose chunks of one section.
 */
export function chunkDoc(doc: SourceDoc, opts: ChunkOptions): Chunk[] {
  let body = doc.text;
  if (doc.format === "html") body = htmlToMarkdown(body).md;
  let sections: Section[];
  if (doc.format === "text") {
    sections = [{ path: [], blocks: body.split(/\n\s*\n/).map((t) => t.trim()).filter(Boolean).map((text) => ({ kind: "para" as const, text })) }];
  } else {
    sections = parseMarkdown(frontMatter(body).body).sections;
  }
  const chunks: Chunk[] = [];
  const perPath = new Map<string, number>();
  const base = { doc_id: doc.id, title: doc.title, source: doc.source, url: doc.url, updated_at: doc.updated_at, meta: doc.meta };
  for (const sec of sections) {
    const section = sec.path.join(" > ");
    const key = slug(section) || "_";
    // Prose pieces leave room for the overlap carried in from the previous chunk.
    const proseMax = Math.max(100, opts.maxChars - opts.overlapChars - 2);
    const blocks = sec.blocks.flatMap((b) => splitBlock(b, b.kind === "code" || b.kind === "table" ? opts.maxChars : proseMax));
    let cur: Block[] = [];
    let len = 0;
    const emit = () => {
      if (!cur.length) return;
      const text = cur.map((b) => b.text).join("\n\n");
      const n = perPath.get(key) ?? 0;
      perPath.set(key, n + 1);
      const c: Chunk = { id: `${doc.id}#${key}:${n}`, section, text, hash: "", ...base };
      c.hash = contentHash(embedText(c));
      chunks.push(c);
      const last = cur[cur.length - 1]!;
      const tail = last.kind === "para" || last.kind === "quote" ? overlapTail(last.text, opts.overlapChars) : "";
      cur = [];
      len = 0;
      return tail;
    };
    for (const b of blocks) {
      if (len && len + 2 + b.text.length > opts.maxChars) {
        const tail = emit();
        if (tail && tail.length + 2 + b.text.length <= opts.maxChars && tail !== b.text.trim()) {
          cur.push({ kind: "para", text: tail });
          len = tail.length;
        }
      }
      cur.push(b);
      len += (len ? 2 : 0) + b.text.length;
    }
    emit();
  }
  return chunks;
}
