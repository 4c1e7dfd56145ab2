import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, consumerGroups, loadConfig } from "../../src/config.ts";

describe("config", () => {
  test("embedded defaults need no environment", () => {
    const c = loadConfig({});
    expect(c.kafka).toBeNull();
    expect(c.redisUrl).toBeNull();
    expect(c.databaseUrl).toBeNull();
    expect(c.http.port).toBe(3000);
    expect(c.topics).toEqual({ messages: "customer-messages", responses: "response-events", dlq: "customer-messages.dlq", stream: "reply-stream" });
  });

  test("a past-tickets group per index copy: two processes on one host with their own RAG_DATA_DIR both see every ticket", () => {
    const kafka = loadConfig({ KAFKA_BROKERS: "127.0.0.1:9092", KAFKA_GROUP_ID: "g" }).kafka;
    const a = consumerGroups({ kafka, rag: { dataDir: "/var/lib/copilot/a" } });
    const b = consumerGroups({ kafka, rag: { dataDir: "/var/lib/copilot/b" } });
    expect(a.pastTickets).not.toBe(b.pastTickets);
    // A restarted process with the same index resumes its own group's offsets.
    expect(consumerGroups({ kafka, rag: { dataDir: "/var/lib/copilot/a" } }).pastTickets).toBe(a.pastTickets);
    // The master and drafting groups stay shared, so replicas split that work.
    expect([a.master, a.drafting]).toEqual([b.master, b.drafting]);
  });

  test("ROLE accepts drafter", () => {
    expect(loadConfig({ ROLE: "drafter" }).role).toBe("drafter");
    expect(() => loadConfig({ ROLE: "cook" })).toThrow(ConfigError);
  });

  test("parses real service settings", () => {
    const c = loadConfig({ KAFKA_BROKERS: "127.0.0.1:9092, 127.0.0.1:9093", REDIS_URL: "redis://127.0.0.1:6379", DATABASE_URL: "postgres://u:p@127.0.0.1/db", PORT: "8080" });
    expect(c.kafka?.brokers).toEqual(["127.0.0.1:9092", "127.0.0.1:9093"]);
    expect(c.redisUrl).toBe("redis://127.0.0.1:6379");
    expect(c.http.port).toBe(8080);
  });

  test("collects every bad value in one clear error", () => {
    try {
      loadConfig({ PORT: "http", KAFKA_BROKERS: "nohost", REDIS_URL: "http://x", LOG_LEVEL: "loud", TOPIC_RESPONSE_EVENTS: "bad topic" });
      throw new Error("expected ConfigError");
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problems = (e as ConfigError).problems.join("\n");
      expect(problems).toContain("PORT");
      expect(problems).toContain("KAFKA_BROKERS");
      expect(problems).toContain("REDIS_URL");
      expect(problems).toContain("LOG_LEVEL");
      expect(problems).toContain("topic responses");
    }
  });

  test("secrets come from *_FILE and production requires API keys", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    const f = join(dir, "keys");
    writeFileSync(f, "k-0123456789abcdef,k-fedcba9876543210\n");
    expect(loadConfig({ API_KEYS_FILE: f }).apiKeys.map((k) => k.secret)).toEqual(["k-0123456789abcdef", "k-fedcba9876543210"]);
    expect(() => loadConfig({ APP_ENV: "production" })).toThrow(/API_KEYS/);
    expect(() => loadConfig({ API_KEYS: "short" })).toThrow(/at least 16/);
  });

  test("an unreadable *_FILE secret is a collected config problem, not a raw file error (KAFKA_SASL_*_FILE included)", () => {
    const missing = join(mkdtempSync(join(tmpdir(), "cfg-")), "no-such-secret");
    let error: unknown;
    try {
      loadConfig({ KAFKA_BROKERS: "127.0.0.1:9092", KAFKA_SASL_MECHANISM: "plain", KAFKA_SASL_USERNAME: "copilot", KAFKA_SASL_PASSWORD_FILE: missing, IMAP_HOST: "mail", IMAP_USER: "u", IMAP_PASSWORD_FILE: missing, PORT: "http" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.some((p) => p.startsWith("KAFKA_SASL_PASSWORD_FILE cannot be read"))).toBe(true);
    expect(problems.some((p) => p.startsWith("IMAP_PASSWORD_FILE cannot be read"))).toBe(true);
    // Collected with the others, not thrown at the first.
    expect(problems.some((p) => p.startsWith("PORT="))).toBe(true);
  });

  test("NAME_FILE wins over NAME and is trimmed; the broker settings carry no topic list of their own", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    const f = join(dir, "pw");
    writeFileSync(f, "from-the-file\n");
    const c = loadConfig({ KAFKA_BROKERS: "127.0.0.1:9092", KAFKA_SASL_MECHANISM: "scram-sha-256", KAFKA_SASL_USERNAME: "copilot", KAFKA_SASL_PASSWORD: "from-env", KAFKA_SASL_PASSWORD_FILE: f });
    expect(c.kafka?.sasl).toEqual({ mechanism: "scram-sha-256", username: "copilot", password: "from-the-file" });
    expect(c.kafka && "topics" in c.kafka).toBe(false);
  });
});
