import { existsSync } from "node:fs";
import { basename } from "node:path";
import type { ChatHistoryItem, Llama, LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { AppError, err, ok, type Result } from "../errors.ts";
import { ms2, tokensPerSecond, type GenerateRequest, type Generation, type GenerationObserver, type Generator } from "./types.ts";

/** Options of the embedded generator (from config `llm.embedded`). */
export interface LlamaCppOptions {
  modelPath: string;
  /** CPU threads for inference (2 on the reference machine). */
  threads: number;
  /** Tokens of context: prompt + reply. */
  contextSize: number;
  /** Longest a request may wait for the model before giving up (one generation runs at a time). */
  queueTimeoutMs: number;
  observer?: GenerationObserver;
}

interface Loaded {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  sequence: LlamaContextSequence;
}

/**
 * In-process generation with node-llama-cpp on its prebuilt CPU binaries (never builds from source, never uses a
 * GPU). One context sequence is reused by every request so an unchanged prompt prefix (the system prompt) is not
 * evaluated again; requests are therefore serialised, and the time spent waiting is reported as `queueMs`.
 */
export class LlamaCppGenerator implements Generator {
  readonly kind = "llamacpp" as const;
  readonly model: string;
  private loading: Promise<Loaded> | null = null;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly o: LlamaCppOptions) {
    if (o.threads < 1) throw new AppError("bad_options", "threads must be at least 1");
    if (o.contextSize < 256) throw new AppError("bad_options", "contextSize must be at least 256");
    this.model = basename(o.modelPath).replace(/\.gguf$/i, "");
  }

  /** Loads the model once (concurrent callers share the load); a failed load can be retried later. */
  load(): Promise<Loaded> {
    if (this.closed) return Promise.reject(new AppError("llm_unavailable", "the embedded generator is closed", { status: 503 }));
    if (!this.loading) {
      this.loading = (async () => {
        if (!existsSync(this.o.modelPath)) {
          throw new AppError("llm_unavailable", `no GGUF model at ${this.o.modelPath} (run scripts/llm/obtain-model.sh)`, { status: 503 });
        }
        const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
        const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
        const model = await llama.loadModel({ modelPath: this.o.modelPath });
        const context = await model.createContext({ contextSize: this.o.contextSize, threads: this.o.threads, sequences: 1 });
        return { llama, model, context, sequence: context.getSequence() };
      })();
      this.loading.catch(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  private async acquire(signal: AbortSignal | undefined): Promise<(() => void) | null> {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const prev = this.tail;
    this.tail = prev.then(() => mine);
    const waited = await Promise.race([
      prev.then(() => "ok" as const),
      new Promise<"timeout">((r) => setTimeout(() => r("timeout"), this.o.queueTimeoutMs)),
      new Promise<"aborted">((r) => (signal?.aborted ? r("aborted") : signal?.addEventListener("abort", () => r("aborted"), { once: true }))),
    ]);
    if (waited === "ok") return release;
    // Give up our place without blocking the queue: release as soon as our predecessor finishes.
    void prev.then(release);
    return waited === "aborted" ? null : Promise.reject(new AppError("llm_timeout", `embedded generator busy for more than ${this.o.queueTimeoutMs} ms`, { status: 503, retriable: true }));
  }

  async generate(req: GenerateRequest): Promise<Result<Generation, AppError>> {
    const started = performance.now();
    let release: (() => void) | null;
    try {
      release = await this.acquire(req.signal);
    } catch (e) {
      this.observe("failed", started, null, 0, null);
      return err(e as AppError);
    }
    const queueMs = performance.now() - started;
    const empty = (): Generation => ({ text: "", finish: "aborted", generator: "llamacpp", model: this.model, promptTokens: null, completionTokens: 0, queueMs: ms2(queueMs), ttftMs: null, tokensPerS: null, totalMs: 0, attempts: 1 });
    if (!release) return ok(empty());
    try {
      let st: Loaded;
      try {
        st = await this.load();
      } catch (e) {
        this.observe("failed", started, null, 0, null);
        return err(e instanceof AppError ? e : new AppError("llm_unavailable", `embedded model failed to load: ${(e as Error).message}`, { status: 503 }));
      }
      if (req.signal?.aborted) return ok(empty());
      const { LlamaChatSession } = await import("node-llama-cpp");
      const msgs = req.messages;
      const last = msgs[msgs.length - 1];
      if (!last || last.role !== "user") return err(new AppError("bad_request", "the last message must be the user's", { status: 400 }));
      const history: ChatHistoryItem[] = msgs.slice(0, -1).map((m) =>
        m.role === "system" ? { type: "system", text: m.content } : m.role === "user" ? { type: "user", text: m.content } : { type: "model", response: [m.content] },
      );
      const session = new LlamaChatSession({ contextSequence: st.sequence, autoDisposeSequence: false });
      session.setChatHistory(history);
      const t0 = performance.now();
      let ttft: number | null = null;
      let tokens = 0;
      const promptTokensBefore = st.sequence.tokenMeter.usedInputTokens;
      try {
        const r = await session.promptWithMeta(last.content, {
          maxTokens: req.maxTokens,
          temperature: req.temperature,
          signal: req.signal,
          stopOnAbortSignal: true,
          onToken: (t) => {
            tokens += t.length;
          },
          onTextChunk: (text) => {
            if (ttft === null) ttft = performance.now() - t0;
            try {
              req.onDelta?.(text);
            } catch {
              // A failing listener must not stop the generation.
            }
          },
        });
        const totalMs = performance.now() - t0;
        const finish = r.stopReason === "maxTokens" ? "length" : r.stopReason === "abort" ? "aborted" : "stop";
        const promptTokens = st.sequence.tokenMeter.usedInputTokens - promptTokensBefore;
        this.observe(finish === "aborted" ? "aborted" : "ok", started, ttft, tokens, promptTokens);
        return ok({
          text: r.responseText,
          finish,
          generator: "llamacpp",
          model: this.model,
          promptTokens,
          completionTokens: tokens,
          queueMs: ms2(queueMs),
          ttftMs: ttft === null ? null : ms2(ttft),
          tokensPerS: tokensPerSecond(tokens, ttft, totalMs),
          totalMs: ms2(totalMs),
          attempts: 1,
        });
      } catch (e) {
        this.observe("failed", started, ttft, tokens, null);
        return err(new AppError("llm_error", `embedded generation failed: ${(e as Error).message}`, { status: 500, retriable: false }));
      } finally {
        session.dispose({ disposeSequence: false });
      }
    } finally {
      release();
    }
  }

  private observe(outcome: "ok" | "failed" | "aborted", started: number, ttftMs: number | null, tokens: number, promptTokens: number | null): void {
    this.o.observer?.observeGeneration({
      model: this.model,
      outcome,
      ...(ttftMs !== null ? { ttftSeconds: ttftMs / 1000 } : {}),
      totalSeconds: (performance.now() - started) / 1000,
      ...(promptTokens !== null ? { promptTokens } : {}),
      completionTokens: tokens,
    });
  }

  /** True when the model file exists and loads. */
  async ping(): Promise<boolean> {
    try {
      await this.load();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const l = this.loading;
    this.loading = null;
    if (!l) return;
    try {
      const st = await l;
      await st.context.dispose();
      await st.model.dispose();
      await st.llama.dispose();
    } catch {
      // Already failed to load: nothing to free.
    }
  }
}
