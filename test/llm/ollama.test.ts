import { afterEach, describe, expect, test } from "bun:test";
import { OllamaGenerator, type OllamaOptions } from "../../src/llm/ollama.ts";
import type { GenerationObserver } from "../../src/llm/types.ts";
import { startFakeOllama, type ChatScript, type FakeOllama } from "./fake-ollama.ts";

let fake: FakeOllama | null = null;
afterEach(async () => {
  await fake?.stop();
  fake = null;
});

const opts = (host: string, o: Partial<OllamaOptions> = {}): OllamaOptions => ({
  host, model: "copilot", keepAlive: "30m", connectTimeoutMs: 1000, firstTokenTimeoutMs: 1000, idleTimeoutMs: 500, totalTimeoutMs: 5000, retries: 2, ...o,
});
const req = (extra: Record<string, unknown> = {}) => ({ messages: [{ role: "system" as const, content: "sys" }, { role: "user" as const, content: "hi" }], maxTokens: 64, temperature: 0.1, ...extra });
const serve = (script: (b: Record<string, any>, n: number) => ChatScript) => (fake = startFakeOllama({ script }));

describe("OllamaGenerator against a local /api/chat NDJSON server", () => {
  test("streams deltas in order, sends keep_alive and options, reports timings and token counts", async () => {
    serve(() => ({ tokens: ["Your", " card", " is", " blocked", "."], tokenDelayMs: 5 }));
    const seen: string[] = [];
    const observed: unknown[] = [];
    const observer: GenerationObserver = { observeGeneration: (s) => observed.push(s) };
    const g = new OllamaGenerator(opts(fake!.url, { observer }));
    const r = await g.generate(req({ onDelta: (d: string) => seen.push(d) }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(seen).toEqual(["Your", " card", " is", " blocked", "."]);
    expect(r.value.text).toBe("Your card is blocked.");
    expect(r.value.finish).toBe("stop");
    expect(r.value.completionTokens).toBe(5);
    expect(r.value.promptTokens).toBe(42);
    expect(r.value.ttftMs).toBeGreaterThan(0);
    expect(r.value.tokensPerS).toBeGreaterThan(0);
    const body = fake!.requests[0]!;
    expect(body.stream).toBe(true);
    expect(body.keep_alive).toBe("30m");
    expect(body.options).toMatchObject({ num_predict: 64, temperature: 0.1 });
    expect(body.messages).toEqual([{ role: "system", content: "sys" }, { role: "user", content: "hi" }]);
    expect(observed).toHaveLength(1);
    expect(observed[0]).toMatchObject({ model: "copilot", outcome: "ok", completionTokens: 5, promptTokens: 42 });
  });

  test("done_reason length is reported as finish=length", async () => {
    serve(() => ({ tokens: ["a", "b"], doneReason: "length" }));
    const r = await new OllamaGenerator(opts(fake!.url)).generate(req());
    expect(r.ok && r.value.finish).toBe("length");
  });

  test("connection refused is retried, then reported as llm_unavailable (retriable)", async () => {
    const f = startFakeOllama();
    const url = f.url;
    await f.stop();
    const g = new OllamaGenerator(opts(url, { retries: 2 }));
    const r = await g.generate(req());
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("llm_unavailable");
    expect(r.error.retriable).toBe(true);
  });

  test("a connection error followed by a live server succeeds on retry", async () => {
    const f = startFakeOllama();
    const port = f.port;
    await f.stop();
    const g = new OllamaGenerator(opts(`http://127.0.0.1:${port}`, { retries: 3 }));
    const pending = g.generate(req());
    await Bun.sleep(150);
    const revived = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response(JSON.stringify({ model: "copilot", created_at: "", message: { role: "assistant", content: "ok" }, done: true, done_reason: "stop", eval_count: 1 }) + "\n") });
    try {
      const r = await pending;
      expect(r.ok).toBe(true);
      if (r.ok) {
        expect(r.value.text).toBe("ok");
        expect(r.value.attempts).toBeGreaterThan(1);
      }
    } finally {
      await revived.stop(true);
    }
  });

  test("HTTP errors are not retried: unknown model is llm_error with a hint, 500 is one request", async () => {
    serve(() => ({ tokens: ["x"] }));
    const r = await new OllamaGenerator(opts(fake!.url, { model: "nope" })).generate(req());
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe("llm_error");
      expect(r.error.message).toContain("404");
      expect(r.error.message).toContain("Modelfile");
    }
    expect(fake!.requests).toHaveLength(1);
    await fake!.stop();
    serve(() => ({ status: 500, error: "out of memory" }));
    const r2 = await new OllamaGenerator(opts(fake!.url)).generate(req());
    expect(!r2.ok && r2.error.code).toBe("llm_error");
    expect(fake!.requests).toHaveLength(1);
  });

  test("slow headers hit the connect timeout; a stalled stream hits the idle timeout", async () => {
    serve(() => ({ headerDelayMs: 400, tokens: ["late"] }));
    const r = await new OllamaGenerator(opts(fake!.url, { connectTimeoutMs: 100, retries: 0 })).generate(req());
    expect(!r.ok && r.error.code).toBe("llm_timeout");
    await fake!.stop();
    serve(() => ({ tokens: ["one", " two", " three"], stallAfter: 2 }));
    const t0 = performance.now();
    const r2 = await new OllamaGenerator(opts(fake!.url, { idleTimeoutMs: 150 })).generate(req());
    expect(!r2.ok && r2.error.code).toBe("llm_timeout");
    expect(!r2.ok && r2.error.message).toContain("stalled");
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(fake!.requests).toHaveLength(1);
  });

  test("a slow but steady stream completes (idle timeout is per gap, not total)", async () => {
    serve(() => ({ tokens: ["a", "b", "c", "d", "e", "f"], tokenDelayMs: 80 }));
    const r = await new OllamaGenerator(opts(fake!.url, { idleTimeoutMs: 200 })).generate(req());
    expect(r.ok && r.value.text).toBe("abcdef");
  });

  test("aborting mid-stream returns the partial text as finish=aborted and closes the stream", async () => {
    serve(() => ({ tokens: Array.from({ length: 50 }, (_, i) => `t${i} `), tokenDelayMs: 20 }));
    const ac = new AbortController();
    let n = 0;
    const r = await new OllamaGenerator(opts(fake!.url)).generate(req({ signal: ac.signal, onDelta: () => ++n === 3 && ac.abort() }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.finish).toBe("aborted");
    expect(r.value.text).toBe("t0 t1 t2 ");
    await Bun.sleep(100);
    expect(fake!.cancelled).toBeGreaterThanOrEqual(1);
  });

  test("an error line in the middle of the stream is llm_error and not retried", async () => {
    serve(() => ({ tokens: ["a", "b", "c"], errorAfter: 2 }));
    const r = await new OllamaGenerator(opts(fake!.url)).generate(req());
    expect(!r.ok && r.error.code).toBe("llm_error");
    expect(fake!.requests).toHaveLength(1);
  });

  test("ping: true when the model is pulled (with or without :latest), false otherwise or when down", async () => {
    serve(() => ({}));
    expect(await new OllamaGenerator(opts(fake!.url)).ping()).toBe(true);
    expect(await new OllamaGenerator(opts(fake!.url, { model: "copilot:latest" })).ping()).toBe(true);
    expect(await new OllamaGenerator(opts(fake!.url, { model: "other" })).ping()).toBe(false);
    const url = fake!.url;
    await fake!.stop();
    fake = null;
    expect(await new OllamaGenerator(opts(url)).ping()).toBe(false);
  });
});
