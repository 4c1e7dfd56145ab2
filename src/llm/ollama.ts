import { Ollama } from "ollama";
import { AppError, err, ok, type Result } from "../errors.ts";
import { ms2, tokensPerSecond, type GenerateRequest, type Generation, type GenerationObserver, type Generator } from "./types.ts";

/** Options of the Ollama generator (from config `llm.ollama`). */
export interface OllamaOptions {
  host: string;
  model: string;
  /** How long Ollama keeps the model loaded after a request ("30m", seconds, or -1 for ever). */
  keepAlive: string | number;
  /** Until the server answers `GET /api/version` (is it there at all). */
  connectTimeoutMs: number;
  /** From the chat request to its first token: Ollama loads the model and evaluates the prompt before any header. */
  firstTokenTimeoutMs: number;
  /** Longest allowed gap between two streamed chunks. */
  idleTimeoutMs: number;
  /** Whole request. */
  totalTimeoutMs: number;
  /** Extra attempts after a connection error (refused, reset or no answer before any token); other failures, a
   * first-token timeout included, are not retried. */
  retries: number;
  numCtx?: number;
  /** CPU threads of the server's runner (Ollama's default: the physical cores); changing it reloads the model. */
  numThread?: number;
  headers?: Record<string, string>;
  observer?: GenerationObserver;
}

/** Ollama's documented defaults for a copilot: keep the model warm, fail fast when the server is not there. */
export const OLLAMA_DEFAULTS = { keepAlive: "30m", connectTimeoutMs: 5_000, firstTokenTimeoutMs: 30_000, idleTimeoutMs: 10_000, totalTimeoutMs: 60_000, retries: 2 } as const;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

/** fetch that also honours `signal` (the client passes its own per-stream signal, which is kept). */
function boundFetch(signal: AbortSignal): typeof fetch {
  const f = (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
    fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
  return f as typeof fetch;
}

type Attempt = Result<Generation, AppError> & { connectionError?: boolean };

/**
 * Generation through an Ollama server with the `ollama` client: streamed chat, keep-alive, phase timeouts,
 * cancellation through the request's AbortSignal (partial text is returned as `finish: "aborted"`), and retries of
 * connection errors only, and only before any token was streamed (a retry after a delta would repeat text).
 */
export class OllamaGenerator implements Generator {
  readonly kind = "ollama" as const;
  readonly model: string;

  constructor(private readonly o: OllamaOptions) {
    if (!o.model) throw new AppError("bad_options", "an Ollama model name is required");
    for (const k of ["connectTimeoutMs", "firstTokenTimeoutMs", "idleTimeoutMs", "totalTimeoutMs"] as const) {
      if (!(o[k] > 0)) throw new AppError("bad_options", `${k} must be positive`);
    }
    this.model = o.model;
  }

  async generate(req: GenerateRequest): Promise<Result<Generation, AppError>> {
    const started = performance.now();
    let attempt = 0;
    for (;;) {
      attempt++;
      const r = await this.once(req, started, attempt);
      if (r.ok || !r.connectionError || attempt > this.o.retries || req.signal?.aborted) {
        this.observe(r, started);
        return r.ok ? ok(r.value) : err(r.error);
      }
      await sleep(Math.min(2000, 100 * 2 ** attempt), req.signal);
    }
  }

  private observe(r: Attempt, started: number): void {
    if (!this.o.observer) return;
    const totalSeconds = (performance.now() - started) / 1000;
    if (r.ok) {
      const g = r.value;
      this.o.observer.observeGeneration({
        model: this.model,
        outcome: g.finish === "aborted" ? "aborted" : "ok",
        ...(g.ttftMs !== null ? { ttftSeconds: g.ttftMs / 1000 } : {}),
        totalSeconds,
        ...(g.promptTokens !== null ? { promptTokens: g.promptTokens } : {}),
        completionTokens: g.completionTokens,
      });
    } else this.o.observer.observeGeneration({ model: this.model, outcome: "failed", totalSeconds });
  }

  private async once(req: GenerateRequest, started: number, attempt: number): Promise<Attempt> {
    const ac = new AbortController();
    let timeout: AppError | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (ms: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timeout = new AppError("llm_timeout", `Ollama ${what} after ${ms} ms`, { status: 504, retriable: true });
        ac.abort();
      }, ms);
    };
    const total = setTimeout(() => {
      timeout = new AppError("llm_timeout", `Ollama generation exceeded ${this.o.totalTimeoutMs} ms`, { status: 504, retriable: true });
      ac.abort();
    }, Math.max(1, this.o.totalTimeoutMs - (performance.now() - started)));
    const onAbort = () => ac.abort();
    if (req.signal?.aborted) ac.abort();
    req.signal?.addEventListener("abort", onAbort, { once: true });

    const client = new Ollama({
      host: this.o.host,
      headers: this.o.headers,
      // The client creates its own AbortController per stream; this ties the HTTP request to ours as well.
      fetch: boundFetch(ac.signal),
    });

    const t0 = performance.now();
    let text = "";
    let ttft: number | null = null;
    let chunks = 0;
    let promptTokens: number | null = null;
    let evalCount: number | null = null;
    let doneReason: string | null = null;
    let headers = false;
    let reachable = false;
    const result = (finish: Generation["finish"]): Attempt => {
      const totalMs = performance.now() - t0;
      const completion = evalCount ?? chunks;
      return ok({
        text,
        finish,
        generator: "ollama",
        model: this.model,
        promptTokens,
        completionTokens: completion,
        queueMs: ms2(t0 - started),
        ttftMs: ttft === null ? null : ms2(ttft),
        tokensPerS: tokensPerSecond(completion, ttft, totalMs),
        totalMs: ms2(totalMs),
        attempts: attempt,
      });
    };
    try {
      arm(this.o.connectTimeoutMs, "did not answer");
      // Ollama sends the chat's headers only with its first token, after loading the model: a cold load must not
      // count against the connect timeout, so that timeout guards this cheap request instead.
      await client.version();
      reachable = true;
      arm(this.o.firstTokenTimeoutMs, "sent no token");
      const stream = await client.chat({
        model: this.model,
        messages: req.messages,
        stream: true,
        keep_alive: this.o.keepAlive,
        options: { num_predict: req.maxTokens, temperature: req.temperature, ...(this.o.numCtx ? { num_ctx: this.o.numCtx } : {}), ...(this.o.numThread ? { num_thread: this.o.numThread } : {}) },
      });
      headers = true;
      ac.signal.addEventListener("abort", () => stream.abort(), { once: true });
      if (ac.signal.aborted) stream.abort();
      for await (const chunk of stream) {
        const delta = chunk.message?.content ?? "";
        if (delta) {
          if (ttft === null) ttft = performance.now() - t0;
          chunks++;
          text += delta;
          try {
            req.onDelta?.(delta);
          } catch {
            // A failing listener must not stop the generation.
          }
        }
        if (chunk.done) {
          doneReason = chunk.done_reason ?? "stop";
          promptTokens = typeof chunk.prompt_eval_count === "number" ? chunk.prompt_eval_count : null;
          evalCount = typeof chunk.eval_count === "number" ? chunk.eval_count : null;
          break;
        }
        arm(this.o.idleTimeoutMs, "stalled");
      }
      if (doneReason === null) throw new Error("stream ended without a done message");
      return result(doneReason === "length" ? "length" : "stop");
    } catch (e) {
      if (req.signal?.aborted && !timeout) return result("aborted");
      if (timeout) {
        const t = timeout as AppError;
        return { ...err(new AppError(t.code, t.message, { status: 504, retriable: true, details: { partial_chars: text.length } })), connectionError: !reachable };
      }
      const status = (e as { status_code?: number }).status_code;
      if (typeof status === "number") {
        const hint = status === 404 ? ` (is the model pulled? \`ollama create ${this.model} -f models/Modelfile\`)` : "";
        return err(new AppError("llm_error", `Ollama answered ${status}: ${(e as Error).message}${hint}`, { status: 502, retriable: status >= 500 }));
      }
      if (!headers && chunks === 0) {
        return { ...err(new AppError("llm_unavailable", `Ollama at ${this.o.host} is unreachable: ${(e as Error).message}`, { status: 503, retriable: true })), connectionError: true };
      }
      return err(new AppError("llm_error", `Ollama stream failed after ${chunks} chunks: ${(e as Error).message}`, { status: 502, retriable: false }));
    } finally {
      clearTimeout(timer);
      clearTimeout(total);
      req.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** True when the server answers and has the model (with or without the `:latest` tag). */
  async ping(): Promise<boolean> {
    const signal = AbortSignal.timeout(this.o.connectTimeoutMs);
    const client = new Ollama({ host: this.o.host, headers: this.o.headers, fetch: boundFetch(signal) });
    try {
      const { models } = await client.list();
      const want = this.model.includes(":") ? this.model : `${this.model}:latest`;
      return models.some((m) => m.name === this.model || m.name === want || m.model === want);
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {}
}
