import { timingSafeEqual } from "node:crypto";
import { AppError } from "../errors.ts";

/** What an API key may do: publish messages, review drafts (read/approve/edit/reject), send replies to customers. */
export const SCOPES = ["ingest", "review", "reply"] as const;
export type Scope = (typeof SCOPES)[number];

/** A named, scoped API key; the name is what audits record (approved_by), never a value from the request. */
export interface ApiKey {
  name: string;
  scopes: Scope[];
  secret: string;
  /** A plain key from the old `API_KEYS=secret,…` form: all scopes, deprecated. */
  legacy?: boolean;
}

/** Keys as routes accept them: parsed ApiKey records, or plain strings (legacy all-scopes keys). */
export type KeyList = readonly (ApiKey | string)[];

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/** The record of a plain (legacy) key: every scope, named by its last four characters. */
export function legacyKey(secret: string): ApiKey {
  return { name: `key…${secret.slice(-4)}`, scopes: [...SCOPES], secret, legacy: true };
}

/**
 * Parses API_KEYS: a JSON array `[{"name","scopes":[…],"secret"}]`, or comma-separated `name:scope1+scope2:secret`
 * entries; an entry without colons is a legacy all-scopes key. Returns every problem instead of throwing.
 */
export function parseApiKeys(raw: string): { keys: ApiKey[]; problems: string[] } {
  const problems: string[] = [];
  const keys: ApiKey[] = [];
  const add = (name: unknown, scopes: unknown, secret: unknown, where: string) => {
    if (typeof name !== "string" || !NAME.test(name)) problems.push(`API_KEYS ${where}: name must be 1-64 characters of [A-Za-z0-9_.@-]`);
    const list = Array.isArray(scopes) ? scopes : [];
    if (list.length === 0 || list.some((s) => !(SCOPES as readonly unknown[]).includes(s))) problems.push(`API_KEYS ${where}: scopes must be a non-empty list of ${SCOPES.join(", ")}`);
    if (typeof secret !== "string" || secret.length < 16) problems.push(`API_KEYS ${where}: every API key must be at least 16 characters`);
    else keys.push({ name: String(name), scopes: [...new Set(list as Scope[])], secret });
  };
  const text = raw.trim();
  if (!text) return { keys, problems };
  if (text.startsWith("[")) {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch {
      return { keys, problems: ["API_KEYS is not valid JSON"] };
    }
    if (!Array.isArray(arr)) return { keys, problems: ["API_KEYS JSON must be an array"] };
    arr.forEach((e, i) => {
      const o = (e && typeof e === "object" ? e : {}) as Record<string, unknown>;
      add(o.name, o.scopes, o.secret, `entry ${i + 1}`);
    });
  } else {
    text.split(",").map((k) => k.trim()).filter(Boolean).forEach((entry, i) => {
      const a = entry.indexOf(":");
      const b = a < 0 ? -1 : entry.indexOf(":", a + 1);
      if (a < 0) {
        if (entry.length < 16) problems.push("every API key must be at least 16 characters");
        else keys.push(legacyKey(entry));
        return;
      }
      if (b < 0) return problems.push(`API_KEYS entry ${i + 1} must be name:scope1+scope2:secret`);
      add(entry.slice(0, a), entry.slice(a + 1, b).split("+").filter(Boolean), entry.slice(b + 1), `entry ${i + 1}`);
    });
  }
  const names = keys.map((k) => k.name);
  if (new Set(names).size !== names.length) problems.push("API_KEYS names must be unique");
  return { keys, problems };
}

/** Extracts a bearer token or X-API-Key from request headers. */
export function presentedKey(headers: Headers): string | null {
  const auth = headers.get("authorization");
  if (auth?.toLowerCase().startsWith("bearer ")) return auth.slice(7).trim();
  return headers.get("x-api-key");
}

const normalize = (k: ApiKey | string): ApiKey => (typeof k === "string" ? legacyKey(k) : k);

/** Constant-time lookup of the presented key: every configured key is compared, whichever matches. */
export function findKey(keys: KeyList, candidate: string | null): ApiKey | null {
  if (!candidate) return null;
  const c = Buffer.from(candidate);
  let found: ApiKey | null = null;
  for (const raw of keys) {
    const k = normalize(raw);
    const b = Buffer.from(k.secret);
    if (b.length === c.length && timingSafeEqual(b, c)) found = k;
  }
  return found;
}

/** Constant-time membership check of an API key. */
export function keyMatches(keys: KeyList, candidate: string | null): boolean {
  return findKey(keys, candidate) !== null;
}

/**
 * The key a request authenticates with, which must carry `scope`: 401 without a valid key, 403 when the key lacks
 * the scope. With no keys configured (development only; production refuses to start) it returns null and allows.
 */
export function authorize(keys: KeyList, headers: Headers, scope: Scope): ApiKey | null {
  if (keys.length === 0) return null;
  const k = findKey(keys, presentedKey(headers));
  if (!k) throw new AppError("unauthorized", "a valid API key is required (Authorization: Bearer <key>)", { status: 401 });
  if (!k.scopes.includes(scope)) throw new AppError("forbidden_scope", `this API key lacks the ${scope} scope`, { status: 403 });
  return k;
}

/** The audit name of the caller: the key's configured name, or `dev` when no keys are configured. */
export function callerName(k: ApiKey | null): string {
  return k ? k.name : "dev";
}

/** Throws 401 unless the request carries one of the keys; with no keys configured (development only) it allows. */
export function requireApiKey(keys: KeyList, headers: Headers): void {
  if (keys.length === 0) return;
  if (!keyMatches(keys, presentedKey(headers))) throw new AppError("unauthorized", "a valid API key is required (Authorization: Bearer <key>)", { status: 401 });
}
