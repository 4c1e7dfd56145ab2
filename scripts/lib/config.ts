import { tmpdir } from "node:os";
import { join } from "node:path";
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

/** Config of a bench's own worker: ROLE=worker with its own group, topics and index folder, named `<prefix>-…-<id>`. */
export function benchWorkerConfig(prefix: string, id: string): Config {
  return loadConfig({
    ...process.env,
    LOG_LEVEL: "warn",
    ROLE: "worker",
    KAFKA_GROUP_ID: `${prefix}-${id}`,
    KAFKA_PARTITIONS: "4",
    TOPIC_CUSTOMER_MESSAGES: `${prefix}-cm-${id}`,
    TOPIC_RESPONSE_EVENTS: `${prefix}-re-${id}`,
    TOPIC_DLQ: `${prefix}-dlq-${id}`,
    TOPIC_REPLY_STREAM: `${prefix}-rs-${id}`,
    RAG_DATA_DIR: join(tmpdir(), `${prefix}-index-${id}`),
  });
}
