/**
 * Re-encrypts customer data under the active key of DATA_KEYS_FILE (also encrypts rows written before encryption).
 *   1. add a new key to the file and make it "active" (keep the old key listed), restart or roll the service;
 *   2. bun run keys:rotate [-- --batch 500]
 *   3. once it reports 0 rows on a second run, the old key can be removed from the file.
 * Batched and resumable: it only touches rows not yet sealed under the active key, so it can be stopped and re-run.
 */
import { parseArgs } from "node:util";
import { persistentConfig } from "./lib/config.ts";
import { openPglite, openPostgres } from "../src/db/store.ts";
import { cipherFromConfig } from "../src/privacy/index.ts";
import { rotateKeys } from "../src/privacy/rotate.ts";

const { values } = parseArgs({ options: { batch: { type: "string", default: "500" } } });
const batch = Number(values.batch);
if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) {
  console.error("--batch must be an integer in [1, 10000]");
  process.exit(2);
}
const config = persistentConfig("nothing persistent to re-encrypt");
const cipher = cipherFromConfig(config.privacy);
const store = config.databaseUrl ? await openPostgres(config.databaseUrl, 2, cipher) : await openPglite(config.pgliteDir, cipher);
try {
  const report = await rotateKeys(store.db, { batch, onBatch: (table, n) => console.error(`${table}: ${n} rows re-sealed`) });
  console.log(JSON.stringify({ active_kid: cipher.activeKid, resealed: report }));
} catch (e) {
  console.error(`keys:rotate stopped: ${(e as Error).message} (re-run to resume)`);
  process.exitCode = 1;
} finally {
  await store.close();
}
