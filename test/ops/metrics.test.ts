import { describe, expect, test } from "bun:test";
import type { Agent, ResultEvent } from "../../src/agents/types.ts";
import { loadConfig } from "../../src/config.ts";
import { ok } from "../../src/errors.ts";
import { instrument } from "../../src/obs/instrument.ts";
import { createLogger } from "../../src/obs/log.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { openParts, startService } from "../../src/runtime.ts";
import { rand, testWith } from "../support/env.ts";


/** Value of one sample line in Prometheus text format, matched by name and every given label. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

describe("metrics", () => {
  test("observeGeneration derives TTFT and tokens/s after the first token; observeInference records latency and batch size", async () => {
    const m = new Metrics(false);
    m.observeGeneration({ model: "gemma3:270m", outcome: "ok", ttftSeconds: 0.5, totalSeconds: 2.5, promptTokens: 100, completionTokens: 41 });
    m.observeInference("bge-small", "embed", 16, 0.02);
    const text = await m.registry.metrics();
    expect(sample(text, "copilot_llm_time_to_first_token_seconds_sum", { model: "gemma3:270m" })).toBe(0.5);
    expect(sample(text, "copilot_llm_tokens_per_second_sum", { model: "gemma3:270m" })).toBe(20); // 40 tokens in 2 s
    expect(sample(text, "copilot_llm_tokens_total", { kind: "prompt" })).toBe(100);
    expect(sample(text, "copilot_llm_tokens_total", { kind: "completion" })).toBe(41);
    expect(sample(text, "copilot_model_batch_size_sum", { model: "bge-small", task: "embed" })).toBe(16);
    expect(sample(text, "copilot_model_inference_duration_seconds_count", { task: "embed" })).toBe(1);
  });

  test("instrument times promise-returning calls with outcome, passes properties through and rethrows", async () => {
    const m = new Metrics(false);
    class Dep {
      kind = "fake";
      async get(x: number) {
        return x * 2;
      }
      async boom(): Promise<never> {
        throw Object.assign(new Error("down"), { code: "unavailable" });
      }
      twice(x: number) {
        return this.kind + x;
      }
    }
    const d = instrument(new Dep(), { name: "redis", histogram: m.redisLatency });
    expect(d.kind).toBe("fake");
    expect(await d.get(21)).toBe(42);
    await expect(d.boom()).rejects.toThrow("down");
    expect(d.twice(1)).toBe("fake1");
    const text = await m.registry.metrics();
    expect(sample(text, "copilot_redis_call_duration_seconds_count", { operation: "get", outcome: "ok" })).toBe(1);
    expect(sample(text, "copilot_redis_call_duration_seconds_count", { operation: "boom", outcome: "error" })).toBe(1);
  });

  test("a lag source that hangs does not block the scrape", async () => {
    const m = new Metrics(false);
    m.addLagSource(() => new Promise(() => {}));
    m.addLagSource(async () => [{ group: "g", topic: "t", partition: "3", lag: 7 }]);
    const started = performance.now();
    const text = await m.registry.metrics();
    expect(performance.now() - started).toBeLessThan(3000);
    expect(sample(text, "copilot_kafka_consumer_lag", { partition: "3" })).toBe(7);
  });

  const agents: Agent[] = [
    { name: "intent", run: async () => ok({ label: "billing" }) },
    { name: "sentiment", run: async () => ok({ label: "neutral" }) },
  ];
  for (const mode of ["embedded", "real services"] as const) {
    testWith(mode === "embedded" ? [] : ["kafka", "redis", "postgres"], `${mode}: /metrics exposes lag, database/Redis latency and the intent/sentiment mix after a message`, async () => {
      const id = rand();
      const env: Record<string, string> =
        mode === "embedded"
          ? {}
          : {
              KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
              REDIS_URL: process.env.REDIS_URL!,
              DATABASE_URL: process.env.DATABASE_URL!,
              KAFKA_GROUP_ID: `metrics-${id}`,
              KAFKA_PARTITIONS: "2",
              TOPIC_CUSTOMER_MESSAGES: `cm-metrics-${id}`,
              TOPIC_RESPONSE_EVENTS: `re-metrics-${id}`,
            };
      const config = loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent", ...env });
      const parts = await openParts(config, { log: createLogger("silent"), metrics: new Metrics(false) });
      const svc = await startService(parts, agents);
      try {
        const got = new Promise<ResultEvent>((resolve) => svc.hub!.onAny((e) => e.type === "message.result" && resolve(e)));
        await svc.publisher.submit({ source: "email", user: { id: `u-${id}` }, message: { text: "invoice question" } });
        await Promise.race([got, Bun.sleep(20_000).then(() => Promise.reject(new Error("no result")))]);
        // The master counts after it marked the result published, which can be just after the hub saw the event.
        let text = "";
        for (let i = 0; i < 200; i++) {
          text = await (await svc.app!.handle(new Request("http://localhost/metrics"))).text();
          if (sample(text, "copilot_results_classified_total", { intent: "billing" }) !== undefined) break;
          await Bun.sleep(10);
        }
        expect(sample(text, "copilot_results_classified_total", { intent: "billing", sentiment: "neutral" })).toBe(1);
        const driver = mode === "embedded" ? "pglite" : "postgres";
        expect(sample(text, "copilot_postgres_call_duration_seconds_count", { driver, operation: "saveProcessed", outcome: "ok" })).toBe(1);
        if (mode === "embedded") {
          expect(sample(text, "copilot_kafka_consumer_lag", { partition: "all" })).toBe(0);
        } else {
          expect(sample(text, "copilot_redis_call_duration_seconds_count", { operation: "getMany", outcome: "ok" })).toBeGreaterThanOrEqual(1);
          // Lag comes per partition from the broker for the master's group.
          for (const p of ["0", "1"]) expect(sample(text, "copilot_kafka_consumer_lag", { group: `metrics-${id}`, topic: `cm-metrics-${id}`, partition: p })).toBe(0);
        }
      } finally {
        await svc.stop();
      }
    }, 40_000);
  }

  test("a worker serves /health, /ready and /metrics but not the chat API", async () => {
    const config = loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent", ROLE: "worker" });
    const parts = await openParts(config, { log: createLogger("silent"), metrics: new Metrics(false) });
    const svc = await startService(parts, []);
    try {
      expect(svc.hub).toBeNull();
      expect((await svc.app!.handle(new Request("http://localhost/health"))).status).toBe(200);
      expect((await svc.app!.handle(new Request("http://localhost/ready"))).status).toBe(200);
      expect(await (await svc.app!.handle(new Request("http://localhost/metrics"))).text()).toContain("copilot_kafka_consumer_lag");
      expect((await svc.app!.handle(new Request("http://localhost/api/messages", { method: "POST", body: "{}" }))).status).toBe(404);
    } finally {
      await svc.stop();
    }
  }, 20_000);
});
