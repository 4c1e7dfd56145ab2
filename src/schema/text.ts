/**
 * Characters the pipeline refuses in any string of a message. PostgreSQL rejects NUL in text and jsonb, and the
 * other C0/C1 controls are never meaningful in customer text (they hide content, break terminals and logs).
 * Allowed: tab, line feed and carriage return (email bodies and pasted text carry CRLF line ends; dropping CR would
 * change what the customer wrote for no safety gain).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's purpose.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;
/** A high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replaces lone surrogates with U+FFFD (String.prototype.toWellFormed, which the ES2022 lib does not declare). */
export function toWellFormed(s: string): string {
  LONE_SURROGATE.lastIndex = 0;
  return LONE_SURROGATE.test(s) ? s.replace(LONE_SURROGATE, "\uFFFD") : s;
}

/** One string's problem, named by its JSON-pointer path. */
export interface TextProblem {
  path: string;
  message: string;
}

/** Why a string is refused, or null when it is clean. */
export function textProblem(s: string): string | null {
  CONTROL.lastIndex = 0;
  const c = CONTROL.exec(s);
  if (c) return `contains control character U+${c[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} at index ${c.index}`;
  LONE_SURROGATE.lastIndex = 0;
  const m = LONE_SURROGATE.exec(s);
  if (m) return `contains a lone surrogate at index ${m.index} (not valid Unicode)`;
  return null;
}

const pointer = (path: string, key: string) => `${path}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;

/** Every string (object keys included) that holds a refused character, up to `max` problems. */
export function findTextProblems(value: unknown, path = "", max = 20, depth = 0, out: TextProblem[] = []): TextProblem[] {
  if (out.length >= max || depth > 16) return out;
  if (typeof value === "string") {
    const p = textProblem(value);
    if (p) out.push({ path: path || "/", message: p });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => findTextProblems(v, `${path}/${i}`, max, depth + 1, out));
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const kp = textProblem(k);
      if (kp && out.length < max) out.push({ path: pointer(path, k), message: `key ${kp}` });
      findTextProblems(v, pointer(path, k), max, depth + 1, out);
    }
  }
  return out;
}

/** Removes refused controls and replaces lone surrogates with U+FFFD; counts what it changed. */
export function sanitizeText(s: string): { text: string; controls: number; surrogates: number } {
  let controls = 0;
  let surrogates = 0;
  let text = s.replace(CONTROL, () => (controls++, ""));
  text = text.replace(LONE_SURROGATE, () => (surrogates++, "\uFFFD"));
  return { text, controls, surrogates };
}

/**
 * Cleans every string of a producer's payload (channels cannot refuse a customer's email, so they repair it) and
 * returns the notes to record under `metadata.sanitized`, e.g. `message.text: 2 control characters removed`.
 */
export function sanitizeDeep<T>(value: T, path = "", notes: string[] = [], depth = 0): { value: T; notes: string[] } {
  const note = (p: string, r: { controls: number; surrogates: number }) => {
    const parts = [];
    if (r.controls) parts.push(`${r.controls} control character${r.controls > 1 ? "s" : ""} removed`);
    if (r.surrogates) parts.push(`${r.surrogates} lone surrogate${r.surrogates > 1 ? "s" : ""} replaced`);
    if (parts.length && notes.length < 20) notes.push(`${p || "(root)"}: ${parts.join(", ")}`);
  };
  if (typeof value === "string") {
    const r = sanitizeText(value);
    note(path, r);
    return { value: r.text as T, notes };
  }
  if (depth > 16) return { value, notes };
  if (Array.isArray(value)) return { value: value.map((v, i) => sanitizeDeep(v, `${path}[${i}]`, notes, depth + 1).value) as T, notes };
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const rk = sanitizeText(k);
      const name = path ? `${path}.${rk.text}` : rk.text;
      note(`${name} (key)`, rk);
      out[rk.text] = sanitizeDeep(v, name, notes, depth + 1).value;
    }
    return { value: out as T, notes };
  }
  return { value, notes };
}

/** Decodes bytes as UTF-8, or returns null when they are not valid UTF-8 (so the edge can refuse them by name). */
export function decodeUtf8Strict(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
}
