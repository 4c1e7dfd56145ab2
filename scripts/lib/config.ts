import { type Config, ConfigError, loadConfig } from "../../src/config.ts";

/**
 * Config for an admin script that works on the persistent database: prints the reason and exits 2 when the
 * environment is invalid or names only the embedded in-memory database (`why` says what would be lost).
 */
export function persistentConfig(why: string): Config {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    console.error(e instanceof ConfigError ? e.message : e);
    process.exit(2);
  }
  if (!config.databaseUrl && !config.pgliteDir) {
    console.error(`no DATABASE_URL or PGLITE_DIR: ${why}`);
    process.exit(2);
  }
  return config;
}
