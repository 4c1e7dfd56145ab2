import { randomBytes } from "node:crypto";
import { FieldCipher } from "./cipher.ts";

/** Encrypted columns, named as they are bound into each envelope (associated data). */
export const FIELDS = {
  messageText: "messages.text",
  messageName: "messages.customer_name",
  messageEmail: "messages.customer_email",
  conversationName: "conversations.customer_name",
  correctionText: "label_corrections.text",
  /** Free-text parts of a message's metadata: an email's quoted history and signature. */
  messageMeta: "messages.metadata",
} as const;

/** Metadata keys that carry the customer's words (email quoted history and signature). */
const SEALED_META = ["quoted", "signature"] as const;

/** Seals (or, with `open`, opens) the free-text keys of a message's metadata; other keys stay queryable. */
export function sealMetadata(cipher: FieldCipher, meta: Record<string, unknown>, mode: "seal" | "open"): Record<string, unknown> {
  const out = { ...meta };
  for (const k of SEALED_META) {
    const v = out[k];
    if (typeof v === "string") out[k] = mode === "seal" ? cipher.seal(v, FIELDS.messageMeta) : cipher.open(v, FIELDS.messageMeta);
  }
  return out;
}

const bound = new WeakMap<object, FieldCipher>();

/** Attaches the field cipher to a database handle, so every reader of that handle decrypts with the same keys. */
export function bindCipher(db: object, cipher: FieldCipher): void {
  bound.set(db, cipher);
}

/** The cipher of a database handle opened by `openPostgres` / `openPglite` (or bound by a test). */
export function cipherOf(db: object): FieldCipher {
  const c = bound.get(db);
  if (!c) throw new Error("no field cipher bound to this database handle (open it with openPostgres/openPglite)");
  return c;
}

/** A cipher with a random in-memory key: for tests and tools that never need to read the data back after exit. */
export function ephemeralCipher(): FieldCipher {
  const k = randomBytes(32);
  return new FieldCipher({ active: "eph", keys: new Map([["eph", k]]), index: randomBytes(32) });
}
