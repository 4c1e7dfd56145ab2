import type { AppError, Result } from "../errors.ts";

/** One chat message sent to a generator. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** A generation request: the whole prompt as chat messages plus sampling limits. */
export interface GenerateRequest {
  messages: ChatMessage[];
  maxTokens: number;
  temperature: number;
  /** Aborts the generation (newer message in the conversation, deadline, shutdown). Partial text is kept. */
  signal?: AbortSignal;
  /** Called with each text delta as soon as the model produces it. */
  onDelta?: (text: string) => void;
}

/** Why a generation stopped. */
export type FinishReason = "stop" | "length" | "aborted";

/** A finished (or aborted) generation with its timings. */
export interface Generation {
  text: string;
  finish: FinishReason;
  /** Which implementation produced it and with which model. */
  generator: GeneratorKind;
  model: string;
  promptTokens: number | null;
  completionTokens: number;
  /** Milliseconds spent waiting for the generator to be free (the embedded model runs one request at a time). */
  queueMs: number;
  /** Milliseconds from the request (after the queue) to the first text delta; null if none arrived. */
  ttftMs: number | null;
  /** Completion tokens per second after the first token. */
  tokensPerS: number | null;
  totalMs: number;
  /** Connection attempts made (Ollama retries connection errors only). */
  attempts: number;
}

/** Implementations of text generation. */
export type GeneratorKind = "ollama" | "llamacpp";

/**
 * A chat model that streams. Failures are returned, never thrown: `llm_unavailable` (nothing answers, retriable),
 * `llm_timeout`, `llm_error` (the server refused the request), so the response agent can fall back.
 */
export interface Generator {
  readonly kind: GeneratorKind;
  readonly model: string;
  generate(req: GenerateRequest): Promise<Result<Generation, AppError>>;
  /** Cheap liveness check (Ollama: /api/version answers and the model is pulled; embedded: the file loads). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** What a generation call reports once it has finished (tokens as counted by the model server). */
export interface GenerationSample {
  model: string;
  outcome: "ok" | "failed" | "aborted";
  /** Seconds from request to the first streamed token; absent when no token arrived. */
  ttftSeconds?: number;
  /** Seconds from request to the last token. */
  totalSeconds: number;
  promptTokens?: number;
  completionTokens?: number;
}

/** The part of the metrics registry generators report to (Metrics.observeGeneration when present). */
export interface GenerationObserver {
  observeGeneration(s: GenerationSample): void;
}

/** Rounds milliseconds for storage (two decimals). */
export const ms2 = (v: number): number => Math.round(v * 100) / 100;

/** Tokens per second after the first token; null when the stream was too short to say. */
export function tokensPerSecond(tokens: number, ttftMs: number | null, totalMs: number): number | null {
  if (ttftMs === null || tokens < 2) return null;
  const streaming = totalMs - ttftMs;
  return streaming > 0 ? Math.round(((tokens - 1) / (streaming / 1000)) * 100) / 100 : null;
}
