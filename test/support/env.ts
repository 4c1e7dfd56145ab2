import { existsSync } from "node:fs";
import { describe, test } from "bun:test";
import { loadConfig, type Config } from "../../src/config.ts";
import { createLogger } from "../../src/obs/log.ts";

/** The GGUF the embedded generator's real-model tests load (scripts/llm/obtain-model.sh fetches it; test.sh runs it). */
export const LLM_TEST_MODEL = process.env.LLM_TEST_MODEL ?? "models/llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

/** Environment of the real services started by scripts/services.sh (see `scripts/services.sh env`). */
export const services = {
  kafka: process.env.KAFKA_BROKERS,
  kafkaSsl: process.env.KAFKA_SSL_BROKERS,
  redis: process.env.REDIS_URL,
  postgres: process.env.DATABASE_URL,
  imap: process.env.IMAP_HOST,
  llmModel: existsSync(LLM_TEST_MODEL) ? LLM_TEST_MODEL : undefined,
  ollama: process.env.OLLAMA_HOST,
  /** The training Python (scripts/ml/setup-python.sh; scripts/test.sh exports it as PYTHON). */
  python: process.env.PYTHON,
};

/** The Ollama binary and models folder of scripts/services.sh, for tests that start their own server. */
export const ollamaLocal = {
  bin: process.env.SERVICES_OLLAMA_BIN,
  models: process.env.SERVICES_OLLAMA_MODELS,
  model: process.env.OLLAMA_MODEL ?? "support-copilot",
};

/** A real service a suite or test can need. */
export type ServiceName = keyof typeof services;

/** The services in `needs` that this run does not have. */
export function missingServices(needs: ServiceName | ServiceName[]): ServiceName[] {
  return (Array.isArray(needs) ? needs : [needs]).filter((s) => !services[s]);
}

const HINT = "run the suite through scripts/test.sh, or `eval \"$(scripts/services.sh env)\"` after `scripts/services.sh up`";

/**
 * describe() for a suite that needs real services. Outside CI a missing service skips with a message;
 * in CI (CI=true) it is a failure, so a broken services script can never pass silently.
 */
export function describeWith(needs: ServiceName | ServiceName[], name: string, fn: () => void): void {
  const missing = missingServices(needs);
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      test(`needs ${missing.join(", ")}`, () => {
        throw new Error(`${missing.join(", ")} not configured: ${HINT}`);
      });
    });
    return;
  }
  console.warn(`skipping "${name}": ${missing.join(", ")} not configured (${HINT})`);
  describe.skip(name, fn);
}

/** test() that needs real services: skipped with a message outside CI, a failure in CI (same rule as describeWith). */
export function testWith(needs: ServiceName | ServiceName[], name: string, fn: () => Promise<unknown> | unknown, timeoutMs?: number): void {
  const missing = missingServices(needs);
  if (missing.length === 0) return void test(name, fn as () => Promise<void>, timeoutMs);
  if (process.env.CI) {
    test(name, () => {
      throw new Error(`${missing.join(", ")} not configured: ${HINT}`);
    });
    return;
  }
  console.warn(`skipping "${name}": ${missing.join(", ")} not configured (${HINT})`);
  test.skip(name, fn as () => Promise<void>);
}

/** A random suffix for topic, group and key names so tests never see each other's data. */
export const rand = () => Math.random().toString(36).slice(2, 10);

/** A quiet logger for tests. */
export const testLog = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");

/** A config for tests: embedded defaults plus overrides from an env-like map. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent", ...env });
}

/** Polls until fn returns a truthy value or the deadline passes. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 15_000, what = "condition"): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/** A valid message payload for the topic. */
export function sampleMessage(over: Record<string, unknown> = {}) {
  return {
    id: crypto.randomUUID(),
    source: "chat",
    user: { id: "cust-1", name: "Ann Example", email: "ann@example.com" },
    message: { text: "My card was declined at the shop", attachments: [] },
    metadata: { received_at: new Date().toISOString() },
    ...over,
  };
}
