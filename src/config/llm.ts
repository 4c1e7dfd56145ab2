import { availableParallelism } from "node:os";
import type { EnvReader } from "./reader.ts";
import type { Config } from "./types.ts";

/** OLLAMA_*, LLM_*, REPLY_* and AUTO_SEND_*: reply generation and the response agent. */
export function llmSection(r: EnvReader): Pick<Config, "ollama" | "llm" | "reply"> {
  const ollamaHost = r.url("OLLAMA_HOST", ["http:", "https:"]);
  return {
    ollama: ollamaHost ? { host: ollamaHost, model: r.str("OLLAMA_MODEL", "support-copilot") } : null,
    llm: {
      generator: r.oneOf("LLM_GENERATOR", "auto", ["auto", "ollama", "embedded", "none"] as const),
      ollamaKeepAlive: r.str("OLLAMA_KEEP_ALIVE", "30m"),
      ollamaConnectTimeoutMs: r.int("OLLAMA_CONNECT_TIMEOUT_MS", 5000, 100, 600_000),
      ollamaFirstTokenTimeoutMs: r.int("OLLAMA_FIRST_TOKEN_TIMEOUT_MS", 30_000, 100, 600_000),
      ollamaIdleTimeoutMs: r.int("OLLAMA_IDLE_TIMEOUT_MS", 10_000, 100, 600_000),
      ollamaRetries: r.int("OLLAMA_RETRIES", 2, 0, 10),
      modelPath: r.str("LLM_MODEL_PATH", "models/llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
      threads: r.int("LLM_THREADS", Math.max(1, availableParallelism() - 1), 1, 256),
      contextSize: r.int("LLM_CONTEXT_SIZE", 2048, 512, 131_072),
      maxTokens: r.int("LLM_MAX_TOKENS", 200, 8, 8192),
      temperature: r.num("LLM_TEMPERATURE", 0.2, 0, 2),
      concurrency: r.int("LLM_CONCURRENCY", 1, 1, 64),
      queueMaxWaitMs: r.int("LLM_QUEUE_MAX_WAIT_MS", 300_000, 0, 3_600_000),
    },
    reply: {
      company: r.str("REPLY_COMPANY", "Northwind Bank"),
      timeoutMs: r.int("REPLY_TIMEOUT_MS", 60_000, 500, 600_000),
      recentTurns: r.int("REPLY_RECENT_TURNS", 6, 0, 100),
      summaryBudgetChars: r.int("REPLY_SUMMARY_BUDGET_CHARS", 1200, 100, 100_000),
      templateVersion: r.str("REPLY_TEMPLATE_VERSION", "v2"),
      maxPassages: r.int("REPLY_MAX_PASSAGES", 2, 1, 10),
      passageChars: r.int("REPLY_PASSAGE_CHARS", 300, 80, 10_000),
      seeAlsoGap: r.num("REPLY_SEE_ALSO_GAP", 0.015, -1, 1),
      autoSend: {
        enabled: r.bool("AUTO_SEND", false),
        intents: r.list("AUTO_SEND_INTENTS"),
        minConfidence: r.num("AUTO_SEND_MIN_CONFIDENCE", 0.85, 0, 1),
        channels: r.list("AUTO_SEND_CHANNELS", "chat"),
      },
    },
  };
}
