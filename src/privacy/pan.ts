import { findCards } from "../ml/entities.ts";

/**
 * Replaces every card number (Luhn-valid 13–19 digits, spaced or dashed, and card-shaped mistypes) with
 * `**** **** **** 1234`, reusing the entity extractor's detection so triage and storage agree on what a card is.
 */
export function maskPans(text: string): string {
  if (!/\d{4}/.test(text.replace(/[ -]/g, ""))) return text;
  const cards = findCards(text);
  if (cards.length === 0) return text;
  let out = "";
  let pos = 0;
  for (const c of cards) {
    if (c.start < pos) continue;
    out += text.slice(pos, c.start) + c.value;
    pos = c.end;
  }
  return out + text.slice(pos);
}

/** Masks card numbers in every string of a JSON-shaped value (worker outputs, event payloads), keys included. */
export function maskPansDeep<T>(value: T): T {
  if (typeof value === "string") return maskPans(value) as T;
  if (Array.isArray(value)) return value.map((v) => maskPansDeep(v)) as T;
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[maskPans(k)] = maskPansDeep(v);
    return out as T;
  }
  return value;
}
