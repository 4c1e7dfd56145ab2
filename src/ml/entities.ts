/**
 * Deterministic entity extraction: order numbers, card / IBAN / account numbers (validated, masked), amounts with
 * currency, dates, emails, phones and catalogue products, each with offsets into the text. The same detectors drive
 * PII redaction (`redact`). Outputs never carry a full card, IBAN or account number: only masked forms.
 */

/** Kinds of entity the extractor finds. */
export type EntityType = "card_number" | "iban" | "account_number" | "sort_code" | "email" | "phone" | "order_number" | "amount" | "date" | "product";

/** One entity: `value` is masked for sensitive types; `start`/`end` are UTF-16 offsets into the input text. */
export interface Entity {
  type: EntityType;
  value: string;
  start: number;
  end: number;
  /** Checksum result where one exists (Luhn for cards, mod-97 for IBANs); invalid ones are still redacted. */
  valid?: boolean;
  /** Normalised extras: currency + amount, ISO date, card brand, IBAN country, product id. */
  meta?: Record<string, string | number | boolean>;
}

/** Types that are personal or financial identifiers and are replaced by `redact` by default. */
export const PII_TYPES: readonly EntityType[] = ["card_number", "iban", "account_number", "sort_code", "email", "phone"];

/** A product of the configurable catalogue (matched by name or alias, case-insensitive, on word boundaries). */
export interface CatalogueProduct {
  id: string;
  name: string;
  aliases?: string[];
}

/** Luhn checksum over a digit string. */
export function luhnValid(digits: string): boolean {
  if (!/^\d{12,19}$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** IBAN lengths by country (ISO 13616 registry, common countries); unknown countries only need 15–34 chars. */
const IBAN_LENGTHS: Record<string, number> = {
  AD: 24, AE: 23, AT: 20, BE: 16, BG: 22, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20, ES: 24, FI: 18, FR: 27,
  GB: 22, GI: 23, GR: 27, HR: 21, HU: 28, IE: 22, IS: 26, IT: 27, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MT: 31,
  NL: 18, NO: 15, PL: 28, PT: 25, RO: 24, SA: 24, SE: 24, SI: 19, SK: 24, SM: 27, TR: 26, UA: 29,
};

/** IBAN check: country length (when known) and ISO 7064 mod-97 = 1. Input may contain spaces. */
export function ibanValid(raw: string): boolean {
  const iban = raw.replace(/\s+/g, "").toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const want = IBAN_LENGTHS[iban.slice(0, 2)];
  if (want !== undefined && iban.length !== want) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const code = ch.charCodeAt(0);
    const val = code >= 65 ? String(code - 55) : ch;
    for (const d of val) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

/** Card brand from the IIN prefix (informational only). */
function cardBrand(d: string): string {
  if (/^4/.test(d)) return "visa";
  if (/^(5[1-5]|2[2-7])/.test(d)) return "mastercard";
  if (/^3[47]/.test(d)) return "amex";
  if (/^6(011|5)/.test(d)) return "discover";
  return "unknown";
}

/** Masks all but the last four characters, keeping a hint of the length. */
export function maskTail(s: string, keep = 4): string {
  return `****${s.slice(-keep)}`;
}

function maskEmail(email: string): string {
  const at = email.indexOf("@");
  return `${email[0]}***${email.slice(at)}`;
}

const CURRENCY_SYMBOLS: Record<string, string> = { $: "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₽": "RUB", "₺": "TRY", "₩": "KRW" };
const CURRENCY_WORDS: Record<string, string> = {
  dollar: "USD", dollars: "USD", usd: "USD", euro: "EUR", euros: "EUR", eur: "EUR", pound: "GBP", pounds: "GBP", gbp: "GBP",
  quid: "GBP", yen: "JPY", jpy: "JPY", chf: "CHF", francs: "CHF", cad: "CAD", aud: "AUD", inr: "INR", rupees: "INR",
  sek: "SEK", nok: "NOK", dkk: "DKK", pln: "PLN", zloty: "PLN", cny: "CNY", yuan: "CNY", mxn: "MXN", brl: "BRL",
};
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

function parseNumber(s: string): number {
  const t = s.replace(/\s/g, "");
  // "1.234,56" (European) vs "1,234.56" (English): the last separator followed by 1–2 digits is the decimal point.
  const m = /^(.*?)([.,])(\d{1,2})$/.exec(t);
  if (m) return Number(m[1]!.replace(/[.,]/g, "") + "." + m[3]);
  return Number(t.replace(/[.,]/g, ""));
}

const iso = (d: Date) => d.toISOString().slice(0, 10);

/** Options of the extractor: the product catalogue and the reference date for relative dates. */
export interface ExtractOptions {
  catalogue?: CatalogueProduct[];
  /** Resolves "yesterday", "last Friday", "3 March" (ISO date-time, usually the message's received_at). */
  now?: string;
}

type Candidate = Entity & { priority: number };

const NUM = String.raw`\d{1,3}(?:[,.\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?`;
const SYMBOL_AMOUNT = new RegExp(String.raw`([$€£¥₹₽₺₩])\s?(${NUM})(?:\s?(k|m|bn)\b)?`, "gi");
const CODE_BEFORE = new RegExp(String.raw`\b(USD|EUR|GBP|CHF|CAD|AUD|JPY|INR|SEK|NOK|DKK|PLN|CNY|MXN|BRL)\s?(${NUM})\b`, "g");
const WORD_AFTER = new RegExp(String.raw`(?<![\w.,])(${NUM})\s?(${Object.keys(CURRENCY_WORDS).join("|")})\b`, "gi");

/**
 * Card numbers alone (13-19 digits, spaced or dashed; Luhn-valid, or card-shaped mistypes), masked to the last 4.
 * Storage masking uses this directly, so a card is masked even where another entity would win the overlap.
 */
export function findCards(text: string): Entity[] {
  const out: Entity[] = [];
  for (const m of text.matchAll(/(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])/g)) {
    // The run may glue a card to a neighbouring number ("card 4111… 17 items", "ref 13 4222…"): try the longest
    // span of whole digit groups first, then shorter ones, so the card inside is still found.
    const groups = [...m[0].matchAll(/\d+/g)].map((g) => ({ start: m.index + g.index, end: m.index + g.index + g[0].length }));
    for (let i = 0; i < groups.length; ) {
      let taken = -1;
      for (let j = groups.length - 1; j >= i && taken < 0; j--) {
        const raw = text.slice(groups[i]!.start, groups[j]!.end);
        const digits = raw.replace(/\D/g, "");
        if (digits.length < 13 || digits.length > 19) continue;
        // Part of an alphanumeric token (a UUID, a hex id): not a card.
        if (/[A-Za-z0-9]/.test(text[groups[i]!.start - 1] ?? "") || /[A-Za-z0-9]/.test(text[groups[j]!.end] ?? "")) continue;
        const valid = luhnValid(digits);
        const grouped = /^\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}$/.test(raw) || /^3[47]\d{2}[ -]\d{6}[ -]\d{5}$/.test(raw);
        // Written as a card is written: one run, groups of four, or the 4-6-4/5 layout (Amex, Diners).
        const shaped = /^\d+$/.test(raw) || /^\d{4}([ -]\d{4})*[ -]\d{1,4}$/.test(raw) || /^\d{4}[ -]\d{6}[ -]\d{4,5}$/.test(raw);
        // Invalid numbers are still reported (and redacted) when they are shaped like a card: mistyped cards are PII too.
        if (!(valid && shaped) && !(grouped && /^[2-6]/.test(digits))) continue;
        out.push({ type: "card_number", value: `**** **** **** ${digits.slice(-4)}`, start: groups[i]!.start, end: groups[j]!.end, valid, meta: { brand: cardBrand(digits) } });
        taken = j;
      }
      i = taken >= 0 ? taken + 1 : i + 1;
    }
  }
  return out;
}

/** Finds every entity in `text`; overlapping matches are resolved by priority (identifiers before numbers). */
export function extractEntities(text: string, opts: ExtractOptions = {}): Entity[] {
  const found: Candidate[] = [];
  const add = (c: Candidate) => found.push(c);
  const now = opts.now ? new Date(opts.now) : new Date();

  for (const m of text.matchAll(/\b[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9])?@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z]{2,})+\b/g)) {
    add({ type: "email", value: maskEmail(m[0]), start: m.index, end: m.index + m[0].length, priority: 9 });
  }

  for (const m of text.matchAll(/\b([A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30})\b/gi)) {
    let raw = m[1]!;
    // A trailing word glued by a space ("... 1300 thanks") is not part of the IBAN: trim to the known length.
    const compact = raw.replace(/\s+/g, "").toUpperCase();
    const want = IBAN_LENGTHS[compact.slice(0, 2)];
    if (want !== undefined && compact.length > want) {
      let n = 0;
      let cut = 0;
      for (; cut < raw.length && n < want; cut++) if (raw[cut] !== " ") n++;
      raw = raw.slice(0, cut);
    }
    const iban = raw.replace(/\s+/g, "").toUpperCase();
    if (iban.slice(4).replace(/\D/g, "").length < 8) continue;
    const valid = ibanValid(iban);
    if (!valid && !/^[A-Z]{2}\d{2}/.test(raw)) continue;
    add({ type: "iban", value: `${iban.slice(0, 2)}** **** ${maskTail(iban)}`, start: m.index, end: m.index + raw.length, valid, meta: { country: iban.slice(0, 2) }, priority: 10 });
  }

  for (const c of findCards(text)) add({ ...c, priority: 8 });

  for (const m of text.matchAll(/\bsort[\s-]?code\s*(?:is|:)?\s*(\d{2}[-\s]?\d{2}[-\s]?\d{2})\b/gi)) {
    const s = m.index + m[0].lastIndexOf(m[1]!);
    add({ type: "sort_code", value: `**-**-${m[1]!.replace(/\D/g, "").slice(-2)}`, start: s, end: s + m[1]!.length, priority: 7 });
  }

  for (const m of text.matchAll(/\b(?:account|acct|a\/c)(?:\s+(?:number|no\.?|num|#))?\s*(?:is|:|#)?\s*([0-9][0-9 -]{4,18}[0-9])\b/gi)) {
    const digits = m[1]!.replace(/\D/g, "");
    if (digits.length < 6 || digits.length > 18) continue;
    const s = m.index + m[0].lastIndexOf(m[1]!);
    add({ type: "account_number", value: maskTail(digits), start: s, end: s + m[1]!.length, priority: 7 });
  }

  for (const m of text.matchAll(/\b(?:order|ref(?:erence)?|booking|ticket|case|invoice|confirmation)(?:\s+(?:number|no\.?|num|id|code))?\s*(?:is|:)?\s*#?\s*([A-Z0-9][A-Z0-9-]{3,19})\b/gi)) {
    const id = m[1]!;
    if (!/\d/.test(id)) continue;
    const s = m.index + m[0].lastIndexOf(id);
    add({ type: "order_number", value: id.toUpperCase(), start: s, end: s + id.length, priority: 6 });
  }
  for (const m of text.matchAll(/(?<![\w&])#([A-Z0-9][A-Z0-9-]{3,19})\b/gi)) {
    if (!/\d/.test(m[1]!)) continue;
    add({ type: "order_number", value: m[1]!.toUpperCase(), start: m.index + 1, end: m.index + m[0].length, priority: 5 });
  }

  for (const m of text.matchAll(/(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,4}(?![\w])/g)) {
    const digits = m[0].replace(/\D/g, "");
    const intl = m[0].startsWith("+");
    if (digits.length < (intl ? 8 : 10) || digits.length > 15) continue;
    if (!intl && !/^0|^\(/.test(m[0]) && !/[\s.-]/.test(m[0])) continue;
    if (/^\d{4}-\d{2}-\d{2}$/.test(m[0])) continue;
    add({ type: "phone", value: `${intl ? "+" : ""}${"*".repeat(Math.max(0, digits.length - 3))}${digits.slice(-3)}`, start: m.index, end: m.index + m[0].length, priority: 4 });
  }

  const amount = (m: RegExpMatchArray, currency: string, num: string, mult?: string) => {
    let value = parseNumber(num);
    if (mult) value *= { k: 1e3, m: 1e6, bn: 1e9 }[mult.toLowerCase()] ?? 1;
    if (!Number.isFinite(value)) return;
    add({ type: "amount", value: `${value.toFixed(2)} ${currency}`, start: m.index!, end: m.index! + m[0].length, meta: { amount: value, currency }, priority: 3 });
  };
  for (const m of text.matchAll(SYMBOL_AMOUNT)) amount(m, CURRENCY_SYMBOLS[m[1]!]!, m[2]!, m[3]);
  for (const m of text.matchAll(CODE_BEFORE)) amount(m, m[1]!.toUpperCase(), m[2]!);
  for (const m of text.matchAll(WORD_AFTER)) amount(m, CURRENCY_WORDS[m[2]!.toLowerCase()]!, m[1]!);

  const date = (m: RegExpMatchArray, d: Date | null, start = m.index!, end = m.index! + m[0].length) => {
    if (!d || Number.isNaN(d.getTime())) return;
    add({ type: "date", value: iso(d), start, end, meta: { text: m[0] }, priority: 2 });
  };
  for (const m of text.matchAll(/\b(\d{4})-(\d{2})-(\d{2})\b/g)) date(m, new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!)));
  for (const m of text.matchAll(/\b(\d{1,2})[/.](\d{1,2})[/.](\d{2}|\d{4})\b/g)) {
    // Day-first unless the first number cannot be a month... or the second cannot be one (then US month-first).
    let [d, mo] = [+m[1]!, +m[2]!];
    if (mo > 12 && d <= 12) [d, mo] = [mo, d];
    if (mo < 1 || mo > 12 || d < 1 || d > 31) continue;
    const y = m[3]!.length === 2 ? 2000 + +m[3]! : +m[3]!;
    date(m, new Date(Date.UTC(y, mo - 1, d)));
  }
  const monthRe = String.raw`(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)`;
  const year = (y: string | undefined, mo: number, d: number) => {
    if (y) return +y;
    // No year: the most recent such date not after "now" plus a week (customers mostly talk about the recent past).
    const cand = new Date(Date.UTC(now.getUTCFullYear(), mo, d));
    return cand.getTime() > now.getTime() + 7 * 864e5 ? now.getUTCFullYear() - 1 : now.getUTCFullYear();
  };
  for (const m of text.matchAll(new RegExp(String.raw`\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?${monthRe}\.?(?:,?\s+(\d{4}))?\b`, "gi"))) {
    const mo = MONTHS.indexOf(m[2]!.slice(0, 3).toLowerCase());
    date(m, new Date(Date.UTC(year(m[3], mo, +m[1]!), mo, +m[1]!)));
  }
  for (const m of text.matchAll(new RegExp(String.raw`\b${monthRe}\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b`, "gi"))) {
    const mo = MONTHS.indexOf(m[1]!.slice(0, 3).toLowerCase());
    if (+m[2]! < 1 || +m[2]! > 31) continue;
    date(m, new Date(Date.UTC(year(m[3], mo, +m[2]!), mo, +m[2]!)));
  }
  const day = (offset: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + offset));
  for (const m of text.matchAll(/\b(today|tonight|tomorrow|yesterday|the day before yesterday)\b/gi)) {
    const w = m[1]!.toLowerCase();
    date(m, day(w === "tomorrow" ? 1 : w === "yesterday" ? -1 : w.startsWith("the day") ? -2 : 0));
  }
  for (const m of text.matchAll(/\b(last|this|next|on)\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b/gi)) {
    const target = WEEKDAYS.indexOf(m[2]!.toLowerCase());
    const cur = now.getUTCDay();
    const rel = m[1]!.toLowerCase();
    let delta = target - cur;
    if (rel === "last" || rel === "on") delta = delta >= 0 ? delta - 7 : delta;
    else if (rel === "next") delta = delta <= 0 ? delta + 7 : delta;
    date(m, day(delta));
  }

  for (const p of opts.catalogue ?? []) {
    for (const name of [p.name, ...(p.aliases ?? [])]) {
      const re = new RegExp(String.raw`(?<![\w])${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\s+/g, "\\s+")}(?![\w])`, "gi");
      for (const m of text.matchAll(re)) add({ type: "product", value: p.name, start: m.index, end: m.index + m[0].length, meta: { id: p.id }, priority: 1 });
    }
  }

  // Keep the highest-priority (then longest) match of any overlapping group.
  found.sort((a, b) => b.priority - a.priority || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: Candidate[] = [];
  for (const c of found) if (!kept.some((k) => c.start < k.end && k.start < c.end)) kept.push(c);
  kept.sort((a, b) => a.start - b.start);
  return kept.map(({ priority: _p, ...e }) => e);
}

const PLACEHOLDER: Record<EntityType, string> = {
  card_number: "CARD", iban: "IBAN", account_number: "ACCOUNT", sort_code: "SORT_CODE", email: "EMAIL", phone: "PHONE",
  order_number: "ORDER", amount: "AMOUNT", date: "DATE", product: "PRODUCT",
};

/** Text with typed placeholders plus the map that restores the originals (keep the map server-side only). */
export interface Redaction {
  text: string;
  map: Record<string, string>;
}

/**
 * Replaces entities (by offsets into `text`) with typed placeholders like `[CARD_1]`; by default only PII types.
 * The same original value gets the same placeholder, so a model can still tell two cards apart.
 */
export function redact(text: string, entities: Entity[], types: readonly EntityType[] = PII_TYPES): Redaction {
  const map: Record<string, string> = {};
  const byValue = new Map<string, string>();
  const counters: Partial<Record<EntityType, number>> = {};
  let out = "";
  let pos = 0;
  for (const e of [...entities].sort((a, b) => a.start - b.start)) {
    if (!types.includes(e.type) || e.start < pos) continue;
    const original = text.slice(e.start, e.end);
    const key = `${e.type}\u0000${original.replace(/[\s-]/g, "").toLowerCase()}`;
    let ph = byValue.get(key);
    if (!ph) {
      counters[e.type] = (counters[e.type] ?? 0) + 1;
      ph = `[${PLACEHOLDER[e.type]}_${counters[e.type]}]`;
      byValue.set(key, ph);
      map[ph] = original;
    }
    out += text.slice(pos, e.start) + ph;
    pos = e.end;
  }
  return { text: out + text.slice(pos), map };
}

/** Puts the originals back into a text produced from a redacted one (e.g. a drafted reply). */
export function restore(text: string, map: Record<string, string>): string {
  return text.replace(/\[[A-Z_]+_\d+\]/g, (ph) => map[ph] ?? ph);
}
