import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { AppError } from "../errors.ts";

/** Data-encryption keys by id, the one new data is sealed with, and the key of the blind indexes. */
export interface Keyring {
  active: string;
  keys: Map<string, Buffer>;
  /** HMAC key of blind indexes (equality lookups on encrypted fields); stable across rotations of `keys`. */
  index: Buffer;
}

const KID = /^[A-Za-z0-9_-]{1,32}$/;

function key32(b64: string, what: string): Buffer {
  const k = Buffer.from(b64, "base64");
  if (k.length !== 32) throw new AppError("bad_keys", `${what} must be 32 bytes in base64 (got ${k.length})`);
  return k;
}

/** Parses a key file `{ "active": kid, "keys": { kid: base64 }, "index": base64 }`; `index` defaults to the first key listed. */
export function parseKeyring(json: string, source = "key file"): Keyring {
  let raw: { active?: unknown; keys?: unknown; index?: unknown };
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new AppError("bad_keys", `${source}: not JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== "object" || !raw.keys || typeof raw.keys !== "object") throw new AppError("bad_keys", `${source}: needs a "keys" object`);
  const keys = new Map<string, Buffer>();
  for (const [kid, v] of Object.entries(raw.keys as Record<string, unknown>)) {
    if (!KID.test(kid)) throw new AppError("bad_keys", `${source}: key id ${JSON.stringify(kid)} must match ${KID}`);
    if (typeof v !== "string") throw new AppError("bad_keys", `${source}: key ${kid} must be a base64 string`);
    keys.set(kid, key32(v, `${source}: key ${kid}`));
  }
  if (typeof raw.active !== "string" || !keys.has(raw.active)) throw new AppError("bad_keys", `${source}: "active" must name one of the keys`);
  const index = typeof raw.index === "string" ? key32(raw.index, `${source}: index`) : keys.values().next().value!;
  return { active: raw.active, keys, index };
}

/** Reads the key file named by DATA_KEYS_FILE. */
export function loadKeyring(path: string): Keyring {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AppError("bad_keys", `DATA_KEYS_FILE ${path} cannot be read: ${(e as Error).message}`);
  }
  return parseKeyring(text, path);
}

/** A fresh key file's content: one random data key and a random index key. */
export function newKeyFile(kid = `k${new Date().toISOString().slice(0, 10).replace(/-/g, "")}`): string {
  return `${JSON.stringify({ active: kid, keys: { [kid]: randomBytes(32).toString("base64") }, index: randomBytes(32).toString("base64") }, null, 2)}\n`;
}

/** The development key file: created (mode 0600) on first use so data is never written in clear, then reused. */
export function devKeyring(path: string): { ring: Keyring; created: boolean } {
  if (existsSync(path)) return { ring: loadKeyring(path), created: false };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, newKeyFile("dev1"), { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return { ring: loadKeyring(path), created: true };
}
