import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { AppError } from "../errors.ts";
import type { Keyring } from "./keys.ts";

/** Prefix of sealed values: `enc:v1:<kid>:<iv>:<ciphertext+tag>`, iv and ciphertext in base64url. */
export const SEALED_PREFIX = "enc:v1:";

/** Shown in place of a value that no configured key can open. */
export const UNREADABLE = "[encrypted with a key that is not configured]";

/** True when a stored value is an envelope (legacy rows written before encryption are plain text). */
export function isSealed(v: string | null | undefined): v is string {
  return typeof v === "string" && v.startsWith(SEALED_PREFIX);
}

/**
 * AES-256-GCM field encryption with key ids, so keys can rotate: new values are sealed with the active key, any
 * listed key opens old ones. The field name is bound as associated data, so a value cannot be moved to another column.
 */
export class FieldCipher {
  constructor(private readonly ring: Keyring) {}

  /** The key id new values are sealed with. */
  get activeKid(): string {
    return this.ring.active;
  }

  /** Seals a value; null/undefined stay null (absence is not secret). */
  seal(plain: string | null | undefined, field: string): string | null {
    if (plain === null || plain === undefined) return null;
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.ring.keys.get(this.ring.active)!, iv);
    c.setAAD(Buffer.from(field));
    const ct = Buffer.concat([c.update(plain, "utf8"), c.final(), c.getAuthTag()]);
    return `${SEALED_PREFIX}${this.ring.active}:${iv.toString("base64url")}:${ct.toString("base64url")}`;
  }

  /** Opens a sealed value; plain (legacy) values pass through. A wrong key or a tampered value throws. */
  open(v: string, field: string): string;
  open(v: string | null | undefined, field: string): string | null;
  open(v: string | null | undefined, field: string): string | null {
    if (v === null || v === undefined) return null;
    if (!isSealed(v)) return v;
    const [kid, ivB64, ctB64] = v.slice(SEALED_PREFIX.length).split(":");
    const key = kid ? this.ring.keys.get(kid) : undefined;
    if (!key || !ivB64 || !ctB64) throw new AppError("decrypt_failed", `no key ${JSON.stringify(kid)} for a sealed ${field}`, { status: 500 });
    const buf = Buffer.from(ctB64, "base64url");
    try {
      const d = createDecipheriv("aes-256-gcm", key, Buffer.from(ivB64, "base64url"));
      d.setAAD(Buffer.from(field));
      d.setAuthTag(buf.subarray(buf.length - 16));
      return Buffer.concat([d.update(buf.subarray(0, buf.length - 16)), d.final()]).toString("utf8");
    } catch (e) {
      throw new AppError("decrypt_failed", `sealed ${field} failed authentication`, { status: 500, cause: e });
    }
  }

  /** Like `open`, but a value no listed key opens (a removed key, a tampered row) becomes `fallback` instead of throwing. */
  openOr(v: string | null | undefined, field: string, fallback: string): string | null {
    try {
      return this.open(v, field);
    } catch {
      return fallback;
    }
  }

  /** True when a stored value should be re-sealed by keys:rotate (plain, or sealed under another key). */
  stale(v: string | null | undefined): boolean {
    if (v === null || v === undefined) return false;
    return !v.startsWith(`${SEALED_PREFIX}${this.ring.active}:`);
  }

  /** Keyed blind index (HMAC-SHA256, hex) for equality lookups on an encrypted field; normalised to lower case. */
  blindIndex(v: string, field: string): string {
    return createHmac("sha256", this.ring.index).update(`${field}\u0000${v.trim().toLowerCase()}`).digest("hex").slice(0, 32);
  }
}
