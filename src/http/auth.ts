import { timingSafeEqual } from "node:crypto";
import { AppError } from "../errors.ts";

/** Extracts a bearer token or X-API-Key from request headers. */
export function presentedKey(headers: Headers): string | null {
  const auth = headers.get("authorization");
  if (auth?.toLowerCase().startsWith("bearer ")) return auth.slice(7).trim();
  return headers.get("x-api-key");
}

/** Constant-time membership check of an API key. */
export function keyMatches(keys: string[], candidate: string | null): boolean {
  if (!candidate) return false;
  const c = Buffer.from(candidate);
  let found = false;
  for (const k of keys) {
    const b = Buffer.from(k);
    if (b.length === c.length && timingSafeEqual(b, c)) found = true;
  }
  return found;
}

/** Throws 401 unless the request carries one of the keys; with no keys configured (development only) it allows. */
export function requireApiKey(keys: string[], headers: Headers): void {
  if (keys.length === 0) return;
  if (!keyMatches(keys, presentedKey(headers))) throw new AppError("unauthorized", "a valid API key is required (Authorization: Bearer <key>)", { status: 401 });
}
