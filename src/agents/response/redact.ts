/**
 * PII redaction for prompts: identifiers are replaced by typed placeholders (`[CARD_1]`, `[EMAIL_1]`) before any
 * text reaches a model, and put back in the outgoing reply by a per-type policy. The placeholders follow the entity
 * worker's format (src/ml/entities.ts), whose offsets are used when present; local detectors cover history turns
 * and a missing entity output.
 */

/** Kinds of private identifier this module replaces. */
export type PiiType = "card_number" | "iban" | "account_number" | "sort_code" | "email" | "phone";

/** One span to replace. */
export interface PiiSpan {
  type: PiiType;
  start: number;
  end: number;
}

const LABEL: Record<PiiType, string> = { card_number: "CARD", iban: "IBAN", account_number: "ACCOUNT", sort_code: "SORT_CODE", email: "EMAIL", phone: "PHONE" };
const TYPE_OF_LABEL = Object.fromEntries(Object.entries(LABEL).map(([k, v]) => [v, k as PiiType]));

/** Aliases other workers may use for the same kinds. */
const ALIASES: Record<string, PiiType> = {
  card: "card_number", card_number: "card_number", credit_card: "card_number", pan: "card_number",
  iban: "iban", account: "account_number", account_number: "account_number", bank_account: "account_number",
  sort_code: "sort_code", email: "email", email_address: "email", phone: "phone", phone_number: "phone",
};

function luhn(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (dbl && (d *= 2) > 9) d -= 9;
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

function ibanValid(raw: string): boolean {
  const s = raw.replace(/\s/g, "").toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(s)) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const v = /\d/.test(ch) ? ch : String(ch.charCodeAt(0) - 55);
    for (const d of v) rem = (rem * 10 + Number(d)) % 97;
  }
  return rem === 1;
}

/** Local detectors: emails, IBANs (mod-97), card numbers (13–19 digits; Luhn or card-shaped), account and sort codes near their keyword, phones. */
export function detectPii(text: string): PiiSpan[] {
  const found: (PiiSpan & { p: number })[] = [];
  for (const m of text.matchAll(/\b[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9])?@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z]{2,})+\b/g)) {
    found.push({ type: "email", start: m.index, end: m.index + m[0].length, p: 9 });
  }
  for (const m of text.matchAll(/\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/gi)) {
    let raw = m[0];
    // Trim trailing words the optional spaces may have swallowed until the checksum holds.
    while (raw.length > 15 && !ibanValid(raw)) raw = raw.replace(/ ?[A-Z0-9]$/i, "");
    if (ibanValid(raw)) found.push({ type: "iban", start: m.index, end: m.index + raw.length, p: 8 });
  }
  for (const m of text.matchAll(/(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g)) {
    const digits = m[0].replace(/\D/g, "");
    const grouped = /^\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}$/.test(m[0]);
    if (luhn(digits) || grouped) found.push({ type: "card_number", start: m.index, end: m.index + m[0].length, p: 7 });
  }
  for (const m of text.matchAll(/\b(?:account|acct|a\/c|konto|cuenta|compte)(?:\s*(?:number|no\.?|#|nr\.?|n[º°]))?\s*[:#]?\s*(\d[\d -]{5,16}\d)\b/gi)) {
    const v = m[1]!;
    const start = m.index + m[0].lastIndexOf(v);
    found.push({ type: "account_number", start, end: start + v.length, p: 6 });
  }
  for (const m of text.matchAll(/\bsort\s*code\s*[:#]?\s*(\d{2}[- ]?\d{2}[- ]?\d{2})\b/gi)) {
    const v = m[1]!;
    const start = m.index + m[0].lastIndexOf(v);
    found.push({ type: "sort_code", start, end: start + v.length, p: 6 });
  }
  for (const m of text.matchAll(/(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?![\w])/g)) {
    const digits = m[0].replace(/\D/g, "");
    if (digits.length >= 9 && digits.length <= 15 && (m[0].startsWith("+") || /[ .-]/.test(m[0]) || digits.startsWith("0"))) {
      found.push({ type: "phone", start: m.index, end: m.index + m[0].length, p: 3 });
    }
  }
  found.sort((a, b) => a.start - b.start || b.p - a.p || b.end - a.end);
  const out: PiiSpan[] = [];
  for (const f of found) {
    const prev = out[out.length - 1];
    if (prev && f.start < prev.end) continue;
    out.push({ type: f.type, start: f.start, end: f.end });
  }
  return out;
}

/**
 * Reads the entity worker's output defensively (an array or `{entities: [...]}` of `{type, start, end}`) and keeps
 * the PII spans whose offsets fit the text.
 */
export function spansFromEntities(raw: unknown, text: string): PiiSpan[] {
  const o = raw && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
  const list = Array.isArray(raw) ? raw : Array.isArray(o?.entities) ? (o!.entities as unknown[]) : [];
  const out: PiiSpan[] = [];
  for (const e of list) {
    if (!e || typeof e !== "object") continue;
    const x = e as Record<string, unknown>;
    const type = ALIASES[String(x.type ?? x.label ?? "").toLowerCase()];
    const start = x.start;
    const end = x.end;
    if (!type || typeof start !== "number" || typeof end !== "number" || start < 0 || end > text.length || end <= start) continue;
    out.push({ type, start, end });
  }
  return out;
}

/** Placeholder → original value, kept server-side for restoring the reply; never logged, never persisted. */
export type PiiMap = Map<string, { type: PiiType; value: string }>;

/** Redacts several texts with one shared numbering, so a card mentioned in two turns keeps one placeholder. */
export class Redactor {
  readonly map: PiiMap = new Map();
  private readonly byValue = new Map<string, string>();
  private readonly counters: Partial<Record<PiiType, number>> = {};

  /** Replaces `spans` (merged with the local detectors' findings) by placeholders. */
  redact(text: string, spans: PiiSpan[] = []): string {
    const all = [...spans, ...detectPii(text)].sort((a, b) => a.start - b.start || b.end - a.end);
    let out = "";
    let pos = 0;
    for (const s of all) {
      if (s.start < pos) continue;
      const value = text.slice(s.start, s.end);
      const key = `${s.type}\u0000${value.replace(/[\s.()-]/g, "").toLowerCase()}`;
      let ph = this.byValue.get(key);
      if (!ph) {
        const n = (this.counters[s.type] = (this.counters[s.type] ?? 0) + 1);
        ph = `[${LABEL[s.type]}_${n}]`;
        this.byValue.set(key, ph);
        this.map.set(ph, { type: s.type, value });
      }
      out += text.slice(pos, s.start) + ph;
      pos = s.end;
    }
    return out + text.slice(pos);
  }

  /** Counts of placeholders by type, for the draft's audit record (never the values). */
  summary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const { type } of this.map.values()) out[type] = (out[type] ?? 0) + 1;
    return out;
  }
}

const tail = (v: string, n = 4) => v.replace(/[^A-Za-z0-9]/g, "").slice(-n);

/**
 * How a placeholder reads in the outgoing reply: the customer's own email and phone come back as written; card,
 * IBAN, account and sort code numbers come back masked (the reply never repeats a full financial identifier);
 * a placeholder the model invented becomes a neutral phrase.
 */
export function restoreValue(ph: string, map: PiiMap): string {
  const hit = map.get(ph);
  if (!hit) {
    const label = /^\[([A-Z_]+)_\d+\]$/.exec(ph)?.[1];
    const type = label ? TYPE_OF_LABEL[label] : undefined;
    return type ? GENERIC[type] : ph;
  }
  switch (hit.type) {
    case "email":
    case "phone":
      return hit.value;
    case "card_number":
      return `**** ${tail(hit.value)}`;
    case "iban":
      return `${hit.value.slice(0, 2).toUpperCase()}** **** ${tail(hit.value)}`;
    case "account_number":
      return `****${tail(hit.value)}`;
    case "sort_code":
      return `**-**-${tail(hit.value, 2)}`;
  }
}

const GENERIC: Record<PiiType, string> = {
  card_number: "your card", iban: "your IBAN", account_number: "your account", sort_code: "your sort code", email: "your email address", phone: "your phone number",
};

const PH = /\[(?:CARD|IBAN|ACCOUNT|SORT_CODE|EMAIL|PHONE)_\d+\]/g;

/** Restores every placeholder in a finished text. */
export function restore(text: string, map: PiiMap): string {
  return text.replace(PH, (ph) => restoreValue(ph, map));
}

/**
 * Restores placeholders in a stream of deltas: text that may be the start of a placeholder is held back until the
 * placeholder closes (or clearly is not one), so a split `[EMA` + `IL_1]` never reaches a client half-restored.
 */
export class StreamRestorer {
  private pending = "";
  constructor(private readonly map: PiiMap) {}

  /** Feeds a delta; returns what can be shown now. */
  push(delta: string): string {
    this.pending += delta;
    const open = this.pending.lastIndexOf("[");
    let ready: string;
    if (open >= 0 && !this.pending.includes("]", open) && this.pending.length - open <= 16 && /^\[[A-Z_\d]*$/.test(this.pending.slice(open))) {
      ready = this.pending.slice(0, open);
      this.pending = this.pending.slice(open);
    } else {
      ready = this.pending;
      this.pending = "";
    }
    return restore(ready, this.map);
  }

  /** Whatever is still held back, at the end of the stream. */
  flush(): string {
    const rest = restore(this.pending, this.map);
    this.pending = "";
    return rest;
  }
}
