import { describe } from "bun:test";
import { loadConfig, type Config } from "../../src/config.ts";
import { createLogger } from "../../src/obs/log.ts";

/** Environment of the real services started by scripts/services.sh (see `scripts/services.sh env`). */
export const services = {
  kafka: process.env.KAFKA_BROKERS,
  redis: process.env.REDIS_URL,
  postgres: process.env.DATABASE_URL,
  ollama: process.env.OLLAMA_HOST,
};

/** The Ollama binary and models folder of scripts/services.sh, for tests that start their own server. */
export const ollamaLocal = {
  bin: process.env.SERVICES_OLLAMA_BIN,
  models: process.env.SERVICES_OLLAMA_MODELS,
  model: process.env.OLLAMA_MODEL ?? "support-copilot",
};

/**
 * describe() for a suite that needs a real service. Outside CI a missing service skips with a message;
 * in CI (CI=true) a missing service is a failure, so a broken services script can never pass silently.
 */
export function describeWith(service: keyof typeof services, name: string, fn: () => void): void {
  if (services[service]) return describe(name, fn);
  if (process.env.CI) {
    describe(name, () => {
      throw new Error(`${service} is not configured; run the suite through scripts/test.sh`);
    });
    return;
  }
  console.warn(`skipping "${name}": ${service} not configured (run scripts/test.sh to start real services)`);
  describe.skip(name, fn);
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
