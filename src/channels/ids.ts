import { createHash } from "node:crypto";

/** Namespace of the copilot's name-based UUIDs (fixed forever: changing it would change every derived id). */
const NAMESPACE = Buffer.from("5b0c6f8e2d4a4c1f9e3a7b6d1c2e4f50", "hex");

/**
 * A UUIDv5 derived from a channel-specific name (an email's Message-ID, a post id, a webhook event id).
 * Re-reading the same item after a crash publishes the same message id, so the master's unique key dedupes it.
 */
export function stableId(name: string): string {
  const h = createHash("sha1").update(NAMESPACE).update(name, "utf8").digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Exponential backoff with full jitter, capped. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** Keeps a string within a UTF-8 byte budget without splitting a character. */
export function clipBytes(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (Buffer.byteLength(s.slice(0, mid)) <= maxBytes - 3) lo = mid;
    else hi = mid - 1;
  }
  return `${s.slice(0, lo)}…`;
}
