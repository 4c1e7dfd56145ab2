import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, extname, join, relative, resolve, sep } from "node:path";
import { AppError } from "../errors.ts";
import { frontMatter, htmlToMarkdown, parseMarkdown } from "./chunker.ts";
import type { SourceDoc } from "./types.ts";

const FORMATS: Record<string, SourceDoc["format"]> = { ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".txt": "text" };

/** True when the path is a file extension the folder loader reads. */
export function isDocFile(path: string): boolean {
  return extname(path).toLowerCase() in FORMATS;
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith(".") || name === "node_modules") continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out);
    else if ((isDocFile(p) && !/^(readme|license|notice)(\.[a-z]+)?$/i.test(name)) || /\.jsonl$/i.test(name)) out.push(p);
  }
}

/** Reads one Markdown, HTML or text file; `root` is the ingested folder, whose name prefixes the id. */
export function readDocFile(path: string, root: string): SourceDoc {
  const format = FORMATS[extname(path).toLowerCase()];
  if (!format) throw new AppError("unsupported_file", `cannot ingest ${path}: expected .md, .html or .txt`, { status: 400 });
  const raw = readFileSync(path, "utf8");
  const rel = relative(resolve(root, ".."), resolve(path)).split(sep).join("/");
  const id = rel.replace(/\.[^./]+$/, "");
  let title: string | undefined;
  let url: string | undefined;
  let updated_at: string | undefined;
  let audience: string | undefined;
  if (format === "markdown") {
    const { meta, body } = frontMatter(raw);
    title = meta.title ?? parseMarkdown(body).title;
    url = meta.url;
    updated_at = meta.updated_at ?? meta.updated;
    audience = meta.audience;
  } else if (format === "html") {
    title = htmlToMarkdown(raw).title;
  } else {
    title = raw.split(/\r?\n/).find((l) => l.trim())?.trim().slice(0, 120);
  }
  updated_at ??= statSync(path).mtime.toISOString();
  return { id, title: title || basename(path, extname(path)), text: raw, format, source: rel, url, updated_at, origin: resolve(root), ...audienceMeta(audience, path) };
}

/** Documents marked `audience: internal` are agent guidance: never quoted to a customer (see docs/retrieval.md). */
export type Audience = "customer" | "internal";

function audienceMeta(v: string | undefined, where: string): { meta?: Record<string, string> } {
  if (v === undefined || v === "") return {};
  const a = v.trim().toLowerCase();
  if (a !== "internal" && a !== "customer") throw new AppError("bad_front_matter", `${where}: audience must be "internal" or "customer", not "${v}"`, { status: 400 });
  return a === "internal" ? { meta: { audience: "internal" } } : {};
}

/** True when a passage (or document) is internal guidance rather than customer-facing help. */
export function isInternal(x: { meta?: Record<string, string> }): boolean {
  return x.meta?.audience === "internal";
}

/**
 * Reads a JSONL knowledge base. Accepts `{id, title, text, url?, updated_at?, audience?}` records, StackFAQ threads
 * `{thread_id, question, answers[]}` and StackFAQ pairs `{faq_id, thread_id, question, answer}`; the thread id is
 * kept in `meta.thread_id` for evaluation.
 */
export function readJsonl(path: string): SourceDoc[] {
  const name = basename(path);
  const origin = resolve(path);
  const docs: SourceDoc[] = [];
  const lines = readFileSync(path, "utf8").split(/\r?\n/);
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch (e) {
      throw new AppError("bad_jsonl", `${name}:${i + 1} is not JSON: ${(e as Error).message}`, { status: 400 });
    }
    const s = (k: string) => (typeof r[k] === "string" ? (r[k] as string) : undefined);
    if (s("id") !== undefined && s("text") !== undefined) {
      const id = s("id")!;
      docs.push({ id, title: s("title") ?? id, text: s("text")!, format: "markdown", source: `${name}#${id}`, url: s("url"), updated_at: s("updated_at"), origin, ...audienceMeta(s("audience"), `${name}:${i + 1}`) });
    } else if (s("thread_id") !== undefined && Array.isArray(r.answers)) {
      const id = s("thread_id")!;
      const answers = (r.answers as unknown[]).filter((a): a is string => typeof a === "string");
      docs.push({ id, title: s("question") ?? id, text: answers.join("\n\n"), format: "text", source: `${name}#${id}`, origin, meta: { thread_id: id } });
    } else if (s("faq_id") !== undefined && s("answer") !== undefined) {
      const id = s("faq_id")!;
      docs.push({ id, title: s("question") ?? id, text: s("answer")!, format: "text", source: `${name}#${id}`, origin, meta: { thread_id: s("thread_id") ?? id } });
    } else {
      throw new AppError("bad_jsonl", `${name}:${i + 1} needs {id, title, text} (or StackFAQ thread/pair fields)`, { status: 400 });
    }
  });
  return docs;
}

/** Loads every document under a path: a folder (recursively .md/.html/.txt/.jsonl), a single file, or a JSONL file. */
export function loadPath(path: string): { origin: string; docs: SourceDoc[] }[] {
  const st = statSync(path);
  if (st.isFile()) {
    if (/\.jsonl$/i.test(path)) return [{ origin: resolve(path), docs: readJsonl(path) }];
    const d = readDocFile(path, resolve(path, ".."));
    return [{ origin: resolve(path), docs: [{ ...d, origin: resolve(path) }] }];
  }
  const files: string[] = [];
  walk(path, files);
  const folderDocs = files.filter((f) => !/\.jsonl$/i.test(f)).map((f) => readDocFile(f, path));
  const out = [{ origin: resolve(path), docs: folderDocs }];
  for (const f of files.filter((f) => /\.jsonl$/i.test(f))) out.push({ origin: resolve(f), docs: readJsonl(f) });
  return out;
}
