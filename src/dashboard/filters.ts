import { SOURCES } from "../schema/message.ts";

/** Time ranges the feed and analytics understand, with their length in milliseconds. */
export const RANGES = { "1h": 3600_000, "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000, all: 0 } as const;
export type Range = keyof typeof RANGES;

/** Feed filters; they live in the page URL (shareable) and are applied to the live stream as well as the query. */
export interface FeedFilters {
  channel?: string;
  intent?: string;
  sentiment?: string;
  urgency?: string;
  range: Range;
  q?: string;
}

/** A live event reduced to what filters look at. */
export interface Filterable {
  channel: string;
  intent: string | null;
  sentiment: string | null;
  urgency: string | null;
  text: string;
  customerName: string | null;
  customerId: string;
  at: Date;
}

const clean = (v: unknown, max = 100): string | undefined => {
  if (typeof v !== "string") return undefined;
  const s = v.trim().slice(0, max);
  return s === "" ? undefined : s;
};

/** Parses filters from a query object; unknown values are dropped rather than rejected (a stale link still opens). */
export function parseFilters(q: Record<string, unknown>, defaultRange: Range = "7d"): FeedFilters {
  const channel = clean(q.channel);
  const range = clean(q.range);
  return {
    channel: channel && (SOURCES as readonly string[]).includes(channel) ? channel : undefined,
    intent: clean(q.intent),
    sentiment: clean(q.sentiment),
    urgency: clean(q.urgency),
    range: range && range in RANGES ? (range as Range) : defaultRange,
    q: clean(q.q, 200),
  };
}

/** The filters as a query string (same order every time so links are stable). */
export function filtersToQuery(f: FeedFilters): string {
  const p = new URLSearchParams();
  for (const k of ["channel", "intent", "sentiment", "urgency", "range", "q"] as const) {
    const v = f[k];
    if (v) p.set(k, v);
  }
  return p.toString();
}

/** The start of the filter's time window, or null for all time. */
export function since(range: Range, now = Date.now()): Date | null {
  const ms = RANGES[range];
  return ms ? new Date(now - ms) : null;
}

/** Whether a live event passes the filters; mirrors the SQL in queries.ts. */
export function matches(f: FeedFilters, e: Filterable, now = Date.now()): boolean {
  if (f.channel && e.channel !== f.channel) return false;
  if (f.intent && e.intent !== f.intent) return false;
  if (f.sentiment && e.sentiment !== f.sentiment) return false;
  if (f.urgency && e.urgency !== f.urgency) return false;
  const from = since(f.range, now);
  if (from && e.at < from) return false;
  if (f.q) {
    const needle = f.q.toLowerCase();
    if (!e.text.toLowerCase().includes(needle) && !(e.customerName ?? "").toLowerCase().includes(needle) && !e.customerId.toLowerCase().includes(needle)) return false;
  }
  return true;
}
