import { existsSync } from "node:fs";
import type { Config } from "../config.ts";
import type { Logger } from "../obs/log.ts";
import { LlamaCppGenerator } from "./llamacpp.ts";
import { OllamaGenerator } from "./ollama.ts";
import type { GenerationObserver, Generator } from "./types.ts";

/**
 * Chooses the generator from config: Ollama when OLLAMA_HOST is set (or LLM_GENERATOR=ollama), the embedded GGUF only
 * when asked for (LLM_GENERATOR=embedded), else null: the response agent then composes the draft from the knowledge
 * base and says so. The embedded model is opt-in because on the 2-core reference machine neither local model drafted
 * better than the composer, and both took far longer than 6 s to a first token under load (docs/response.md,
 * "Model choice"). `observer` is the metrics registry (Metrics.observeGeneration).
 */
export function createGenerator(config: Pick<Config, "ollama" | "llm" | "reply">, log: Logger, observer?: GenerationObserver): Generator | null {
  const l = config.llm;
  const useOllama = l.generator === "ollama" || (l.generator === "auto" && config.ollama !== null);
  if (useOllama) {
    if (!config.ollama) {
      log.warn({ component: "llm" }, "LLM_GENERATOR=ollama but OLLAMA_HOST is not set: replies fall back to extractive answers");
      return null;
    }
    log.info({ component: "llm", generator: "ollama", host: config.ollama.host, model: config.ollama.model }, "reply generator");
    return new OllamaGenerator({
      host: config.ollama.host,
      model: config.ollama.model,
      keepAlive: l.ollamaKeepAlive,
      connectTimeoutMs: l.ollamaConnectTimeoutMs,
      firstTokenTimeoutMs: l.ollamaFirstTokenTimeoutMs,
      idleTimeoutMs: l.ollamaIdleTimeoutMs,
      totalTimeoutMs: Math.max(1000, config.reply.timeoutMs - 400),
      retries: l.ollamaRetries,
      numCtx: l.contextSize,
      observer,
    });
  }
  if (l.generator === "embedded") {
    log.info({ component: "llm", generator: "llamacpp", model: l.modelPath, threads: l.threads }, "reply generator");
    return new LlamaCppGenerator({ modelPath: l.modelPath, threads: l.threads, contextSize: l.contextSize, queueTimeoutMs: config.reply.timeoutMs, observer });
  }
  log.info(
    { component: "llm", model: l.modelPath, gguf_present: existsSync(l.modelPath) },
    "no reply generator (no OLLAMA_HOST; the embedded GGUF needs LLM_GENERATOR=embedded): drafts are composed from the knowledge base",
  );
  return null;
}
