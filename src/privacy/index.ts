import type { Logger } from "../obs/log.ts";
import { FieldCipher } from "./cipher.ts";
import { devKeyring, loadKeyring } from "./keys.ts";

export { FieldCipher, isSealed, UNREADABLE } from "./cipher.ts";
export { bindCipher, cipherOf, ephemeralCipher, FIELDS, sealMetadata } from "./fields.ts";
export { PrivacyService, privacyEvent, RETENTION_LOCK, type Counts, type PrivacyEvent } from "./erasure.ts";
export { maskPans, maskPansDeep } from "./pan.ts";

/** The field cipher from DATA_KEYS_FILE, or (outside production, where config requires the file) a generated dev key file. */
export function cipherFromConfig(p: { dataKeysFile: string | null; devKeysFile: string }, log?: Logger): FieldCipher {
  if (p.dataKeysFile) return new FieldCipher(loadKeyring(p.dataKeysFile));
  const { ring, created } = devKeyring(p.devKeysFile);
  log?.warn({ file: p.devKeysFile, created }, "DATA_KEYS_FILE is not set: customer data is encrypted with a development key file (required in production)");
  return new FieldCipher(ring);
}
