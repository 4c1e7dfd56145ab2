/**
 * Erases one customer's data: PostgreSQL rows, Redis session memory and past-ticket index entries (through a
 * privacy event on response-events that every running index applies), and writes a PII-free audit record.
 *   bun run customer:erase -- --customer ID [--actor NAME]
 * ID is the customer id as stored (for email customers, the address). Re-running is safe.
 */
import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import { KafkaBus } from "../src/bus/kafka.ts";
import { persistentConfig } from "./lib/config.ts";
import { openPglite, openPostgres } from "../src/db/store.ts";
import { createLogger } from "../src/obs/log.ts";
import { cipherFromConfig, PrivacyService } from "../src/privacy/index.ts";
import { MemorySessionStore } from "../src/session/memory.ts";
import { RedisSessionStore } from "../src/session/redis.ts";

const { values } = parseArgs({ options: { customer: { type: "string" }, actor: { type: "string" } } });
if (!values.customer?.trim()) {
  console.error("usage: bun run customer:erase -- --customer ID [--actor NAME]");
  process.exit(2);
}
const config = persistentConfig("the embedded in-memory database holds nothing to erase");
const log = createLogger(config.logLevel);
const cipher = cipherFromConfig(config.privacy, log);
const store = config.databaseUrl ? await openPostgres(config.databaseUrl, 2, cipher) : await openPglite(config.pgliteDir, cipher);
const sessions = config.redisUrl ? new RedisSessionStore(config.redisUrl, config.session) : new MemorySessionStore(config.session);
if (!config.redisUrl) log.warn("no REDIS_URL: in-memory sessions of a running process are not reachable from here (they expire with SESSION_TTL)");
const bus = config.kafka ? new KafkaBus(config.kafka, log) : null;
if (!bus) log.warn("no Kafka: past-ticket indexes are told nothing; erase through the dashboard API of the running service instead");
try {
  await bus?.start([config.topics.responses]);
  const privacy = new PrivacyService({ db: store.db, sessions, bus, responsesTopic: config.topics.responses, log });
  const actor = `cli:${values.actor ?? userInfo().username}`;
  const r = await privacy.eraseCustomer(values.customer, actor);
  console.log(JSON.stringify({ audit_id: r.auditId, counts: r.counts }));
} catch (e) {
  console.error(`customer:erase failed: ${(e as Error).message} (re-run to complete)`);
  process.exitCode = 1;
} finally {
  await bus?.stop();
  await sessions.close();
  await store.close();
}
