import { createHash } from "node:crypto";

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, newlines inside quotes) into rows of strings. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      field = "";
      if (row.length > 1 || row[0] !== "") rows.push(row);
      row = [];
    } else field += c;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Quotes one CSV field when needed (RFC 4180, the format parseCsv reads). */
export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** A labelled example. */
export interface Example {
  text: string;
  label: string;
  /** Optional per-row training weight (e.g. annotator agreement). */
  weight?: number;
}

/** Reads text/label (and optional weight) columns of a CSV file by header name; fails listing the columns if one is missing. */
export async function readLabelled(path: string, textCol: string, labelCol: string, weightCol?: string): Promise<Example[]> {
  const file = Bun.file(path);
  if (!(await file.exists())) throw new Error(`no such file: ${path}`);
  const rows = parseCsv(await file.text());
  const header = rows.shift() ?? [];
  const ti = header.indexOf(textCol);
  const li = header.indexOf(labelCol);
  if (ti < 0 || li < 0) {
    throw new Error(`${path}: needs columns "${textCol}" and "${labelCol}" (has: ${header.join(", ")}); use --text-col/--label-col`);
  }
  const wi = weightCol ? header.indexOf(weightCol) : -1;
  if (weightCol && wi < 0) throw new Error(`${path}: no weight column "${weightCol}" (has: ${header.join(", ")})`);
  return rows
    .filter((r) => r[ti] && r[li])
    .map((r) => {
      const w = wi >= 0 ? Number(r[wi]) : NaN;
      return { text: r[ti]!, label: r[li]!, ...(Number.isFinite(w) ? { weight: w } : {}) };
    });
}

/** Stable 32-bit bucket of a string (sha1 prefix), independent of row order. */
export function stableHash(s: string): number {
  return createHash("sha1").update(s).digest().readUInt32BE(0);
}

/**
 * Deterministic stratified split: within each label, examples are ordered by a hash of their text and the first
 * `devFraction` (rounded, at least 1) go to dev. Same file in, same split out, on any machine.
 */
export function stratifiedSplit<T extends Example>(rows: T[], devFraction = 0.1, salt = "dev-split-v1"): { train: T[]; dev: T[] } {
  const byLabel = new Map<string, T[]>();
  for (const r of rows) {
    const list = byLabel.get(r.label) ?? [];
    list.push(r);
    byLabel.set(r.label, list);
  }
  const train: T[] = [];
  const dev: T[] = [];
  for (const label of [...byLabel.keys()].sort()) {
    const list = byLabel.get(label)!.map((r, i) => ({ r, h: stableHash(`${salt}\u0000${r.text}\u0000${i}`) }));
    list.sort((a, b) => a.h - b.h);
    const k = Math.max(1, Math.round(list.length * devFraction));
    list.forEach((x, i) => (i < k ? dev : train).push(x.r));
  }
  return { train, dev };
}

/** Parses `--name value` / `--flag` arguments into a map. */
export function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) continue;
    const eq = a.indexOf("=");
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) out[a.slice(2)] = argv[++i]!;
    else out[a.slice(2)] = "true";
  }
  return out;
}
