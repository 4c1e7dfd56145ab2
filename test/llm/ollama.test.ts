import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ollama } from "ollama";
import { createResponseAgent, type ReplyDraft } from "../../src/agents/response/agent.ts";
import type { AgentContext } from "../../src/agents/types.ts";
import { OllamaGenerator, type OllamaOptions } from "../../src/llm/ollama.ts";
import type { GenerateRequest, Generation, GenerationObserver, Generator } from "../../src/llm/types.ts";
import { createLogger } from "../../src/obs/log.ts";
import type { CustomerMessage } from "../../src/schema/message.ts";
import { emptySession } from "../../src/session/interface.ts";
import { describeWith, ollamaLocal, services, waitFor } from "../support/env.ts";
import { startFakeOllama, type ChatScript, type FakeOllama } from "./fake-ollama.ts";

const opts = (host: string, o: Partial<OllamaOptions> = {}): OllamaOptions => ({
  host, model: "copilot", keepAlive: "30m", connectTimeoutMs: 1000, firstTokenTimeoutMs: 1000, idleTimeoutMs: 500, totalTimeoutMs: 5000, retries: 2, ...o,
});
const req = (extra: Record<string, unknown> = {}) => ({ messages: [{ role: "system" as const, content: "sys" }, { role: "user" as const, content: "hi" }], maxTokens: 64, temperature: 0.1, ...extra });

// ---------------------------------------------------------------------------------------------------------------
// The protocol-faithful fake: only for failures a real server cannot be made to produce on demand.

let fake: FakeOllama | null = null;
afterEach(async () => {
  await fake?.stop();
  fake = null;
});
const serve = (script: (b: Record<string, any>, n: number) => ChatScript) => (fake = startFakeOllama({ script }));

describe("OllamaGenerator against the fake server (slow headers, stalls, broken streams, 500s)", () => {
  test("a server that accepts but never answers hits the connect timeout and is retried", async () => {
    let connections = 0;
    const mute = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void connections++, data() {} } });
    try {
      const r = await new OllamaGenerator(opts(`http://127.0.0.1:${mute.port}`, { connectTimeoutMs: 100, retries: 1 })).generate(req());
      expect(!r.ok && r.error.code).toBe("llm_timeout");
      expect(!r.ok && r.error.message).toContain("did not answer");
      expect(connections).toBe(2);
    } finally {
      mute.stop(true);
    }
  });

  test("headers held back by a model load count against the first-token budget, not the connect timeout", async () => {
    serve(() => ({ headerDelayMs: 400, tokens: ["late"] }));
    const r = await new OllamaGenerator(opts(fake!.url, { connectTimeoutMs: 100, firstTokenTimeoutMs: 2000 })).generate(req());
    expect(r.ok && r.value.text).toBe("late");
    const r2 = await new OllamaGenerator(opts(fake!.url, { connectTimeoutMs: 2000, firstTokenTimeoutMs: 150 })).generate(req());
    expect(!r2.ok && r2.error.code).toBe("llm_timeout");
    expect(!r2.ok && r2.error.message).toContain("sent no token");
    // The server was reached: a slow load is not retried (a retry would queue the same load again).
    expect(fake!.requests).toHaveLength(2);
  });

  test("a stalled stream hits the idle timeout", async () => {
    serve(() => ({ tokens: ["one", " two", " three"], stallAfter: 2 }));
    const r2 = await new OllamaGenerator(opts(fake!.url, { idleTimeoutMs: 150 })).generate(req());
    expect(!r2.ok && r2.error.code).toBe("llm_timeout");
    expect(!r2.ok && r2.error.message).toContain("stalled");
    expect(fake!.requests).toHaveLength(1);
  });

  test("a slow but steady stream completes (idle timeout is per gap, not total)", async () => {
    serve(() => ({ tokens: ["a", "b", "c", "d", "e", "f"], tokenDelayMs: 80 }));
    const r = await new OllamaGenerator(opts(fake!.url, { idleTimeoutMs: 200 })).generate(req());
    expect(r.ok && r.value.text).toBe("abcdef");
  });

  test("an error line in the middle of the stream is llm_error and not retried", async () => {
    serve(() => ({ tokens: ["a", "b", "c"], errorAfter: 2 }));
    const r = await new OllamaGenerator(opts(fake!.url)).generate(req());
    expect(!r.ok && r.error.code).toBe("llm_error");
    expect(fake!.requests).toHaveLength(1);
  });

  test("a 500 (e.g. out of memory) is one request, llm_error, retriable for the caller", async () => {
    serve(() => ({ status: 500, error: "out of memory" }));
    const r = await new OllamaGenerator(opts(fake!.url)).generate(req());
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe("llm_error");
      expect(r.error.retriable).toBe(true);
      expect(r.error.message).toContain("out of memory");
    }
    expect(fake!.requests).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The real server of scripts/services.sh (Ollama built from its Go module, model support-copilot).

const MODEL = ollamaLocal.model;
// One runner thread for every request (a different num_thread reloads the model): on a busy shared machine ggml's
// spinning thread barrier makes two threads many times slower than one; these tests check behaviour, not speed.
const REAL = { model: MODEL, connectTimeoutMs: 10_000, firstTokenTimeoutMs: 120_000, idleTimeoutMs: 60_000, totalTimeoutMs: 180_000, numThread: 1 };
const SLOW = 240_000;
const real = (o: Partial<OllamaOptions> = {}) => new OllamaGenerator(opts(services.ollama ?? "", { ...REAL, ...o }));
const ask = (content: string, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  messages: [{ role: "system", content: "You are a terse assistant." }, { role: "user", content }],
  maxTokens: 24,
  temperature: 0,
  ...extra,
});
const modelLoaded = async (): Promise<{ expires_at: Date } | undefined> => {
  const { models } = await new Ollama({ host: services.ollama }).ps();
  return models.find((m) => m.name === `${MODEL}:latest` || m.name === MODEL);
};

describeWith("ollama", "OllamaGenerator against the real Ollama server", () => {
  // First: a request still finishing on the server (e.g. an aborted one) would reset the expiry to its own keep_alive.
  test("keep_alive: the model stays loaded for the requested time; keep_alive 0 unloads it after the reply", async () => {
    const before = Date.now();
    expect((await real({ keepAlive: "7m" }).generate(ask("hi", { maxTokens: 4 }))).ok).toBe(true);
    const loaded = await modelLoaded();
    expect(loaded).toBeDefined();
    const left = new Date(loaded!.expires_at).getTime() - before;
    expect(left).toBeGreaterThan(5 * 60_000);
    expect(left).toBeLessThan(8 * 60_000);
    expect((await real({ keepAlive: 0 }).generate(ask("hi", { maxTokens: 4 }))).ok).toBe(true);
    await waitFor(async () => (await modelLoaded()) === undefined, 30_000, "the model to be unloaded");
    // A cold load (~1 s here: runner start + 470 MB of weights) happens before Ollama sends any header: it must not
    // trip the connect timeout, which only has to cover GET /api/version.
    const cold = await real({ connectTimeoutMs: 400 }).generate(ask("hi", { maxTokens: 2 }));
    expect(cold.ok).toBe(true);
    expect(cold.ok && cold.value.attempts).toBe(1);
    expect(await modelLoaded()).toBeDefined();
  }, SLOW);

  test("streams deltas in order and reports Ollama's token counts and timings", async () => {
    const deltas: string[] = [];
    const observed: Parameters<GenerationObserver["observeGeneration"]>[0][] = [];
    const g = real({ observer: { observeGeneration: (s) => observed.push(s) } });
    const r = await g.generate(ask("Count from 1 to 10, separated by spaces.", { onDelta: (d) => deltas.push(d) }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const v = r.value;
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join("")).toBe(v.text);
    expect(v.text).toMatch(/1,? 2,? 3/);
    expect(v.generator).toBe("ollama");
    // Counts come from Ollama's final chunk, not from our chunk count: the ChatML prompt is far more than 2 tokens.
    expect(v.promptTokens).toBeGreaterThan(15);
    expect(v.completionTokens).toBeGreaterThanOrEqual(deltas.length);
    expect(v.completionTokens).toBeLessThanOrEqual(24);
    expect(v.ttftMs).toBeGreaterThan(0);
    expect(v.totalMs).toBeGreaterThanOrEqual(v.ttftMs!);
    expect(v.tokensPerS).toBeGreaterThan(0);
    expect(v.attempts).toBe(1);
    expect(observed).toHaveLength(1);
    expect(observed[0]).toMatchObject({ model: MODEL, outcome: "ok", promptTokens: v.promptTokens, completionTokens: v.completionTokens });
  }, SLOW);

  test("the Modelfile's template and stop tokens end a short answer with done_reason stop; num_predict gives length", async () => {
    const stop = await real().generate(ask("Reply with the single word: yes", { maxTokens: 16 }));
    expect(stop.ok && stop.value.finish).toBe("stop");
    expect(stop.ok && stop.value.text).not.toContain("<|im_");
    const cut = await real().generate(ask("Write a long story about a bank.", { maxTokens: 5 }));
    expect(cut.ok).toBe(true);
    if (!cut.ok) return;
    expect(cut.value.finish).toBe("length");
    expect(cut.value.completionTokens).toBe(5);
  }, SLOW);

  test("two concurrent drafts are served in parallel (OLLAMA_NUM_PARALLEL=2): their streams interleave", async () => {
    const order: string[] = [];
    const g = real();
    const [a, b] = await Promise.all([
      g.generate(ask("Count from 1 to 30, separated by spaces.", { maxTokens: 20, onDelta: () => order.push("a") })),
      g.generate(ask("Count from 100 to 130, separated by spaces.", { maxTokens: 20, onDelta: () => order.push("b") })),
    ]);
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    expect(a.value.text).toContain("1 2 3");
    expect(b.value.text).toContain("100");
    expect(b.value.text).not.toBe(a.value.text);
    // Sequential serving would give all of one stream, then all of the other.
    expect(order.indexOf("b")).toBeLessThan(order.lastIndexOf("a"));
    expect(order.indexOf("a")).toBeLessThan(order.lastIndexOf("b"));
  }, SLOW);

  test("aborting mid-stream returns the partial text as finish=aborted", async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const r = await real().generate(ask("Count from 1 to 50, separated by spaces.", { maxTokens: 60, signal: ac.signal, onDelta: (d) => seen.push(d) === 3 && ac.abort() }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.finish).toBe("aborted");
    expect(r.value.text).toBe(seen.slice(0, 3).join(""));
  }, SLOW);

  test("an unknown model is llm_error 404 with the Modelfile hint, not retried; ping tells the models apart", async () => {
    const r = await real({ model: `no-such-model-${Date.now()}` }).generate(ask("hi"));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe("llm_error");
      expect(r.error.retriable).toBe(false);
      expect(r.error.message).toContain("404");
      expect(r.error.message).toContain("models/Modelfile");
    }
    expect(await real().ping()).toBe(true);
    expect(await real({ model: `${MODEL}:latest` }).ping()).toBe(true);
    expect(await real({ model: "no-such-model" }).ping()).toBe(false);
  }, SLOW);
});

// ---------------------------------------------------------------------------------------------------------------
// A separate server (same binary, same models folder) that the test stops and restarts: the shared one is never touched.

/** An `ollama serve` of our own on a free port. */
class OwnOllama {
  proc: ReturnType<typeof Bun.spawn> | null = null;
  readonly home = mkdtempSync(join(tmpdir(), "ollama-home-"));
  constructor(readonly port: number) {}
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.proc = Bun.spawn([ollamaLocal.bin!, "serve"], {
      // NOPRUNE: a starting server must never delete blobs the shared server uses from the same folder.
      env: { PATH: process.env.PATH ?? "", HOME: this.home, OLLAMA_HOST: `127.0.0.1:${this.port}`, OLLAMA_MODELS: ollamaLocal.models!, OLLAMA_NOPRUNE: "1", OLLAMA_NUM_PARALLEL: "1" },
      stdout: "ignore",
      stderr: "ignore",
    });
    await waitFor(() => fetch(`${this.url}/api/version`).then((r) => r.ok, () => false), 60_000, "own ollama serve");
  }
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p) return;
    p.kill("SIGTERM");
    // An idle server exits at once; one busy shutting down a runner may not: never leave it behind.
    const killer = setTimeout(() => p.kill("SIGKILL"), 15_000);
    await p.exited;
    clearTimeout(killer);
  }
}

const freePort = () => {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
};

/** The generator with every result recorded, so the test sees attempts behind the agent's draft. */
function recording(g: Generator): Generator & { results: (Generation | string)[] } {
  const results: (Generation | string)[] = [];
  return {
    kind: g.kind,
    model: g.model,
    results,
    async generate(r) {
      const out = await g.generate(r);
      results.push(out.ok ? out.value : out.error.code);
      return out;
    },
    ping: () => g.ping(),
    close: () => g.close(),
  };
}

const knowledge = {
  abstain: false,
  passages: [
    { chunk_id: "cards#lost:0", doc_id: "cards", title: "Lost or stolen card", section: "Block the card", source: "kb/cards.md", text: "Freeze the card in the app under Cards > Freeze, then order a replacement. It arrives in 5 working days.", score: 0.82 },
  ],
};
let seq = 0;
function message(text: string): CustomerMessage {
  seq++;
  return { id: `00000000-0000-4000-9000-${String(seq).padStart(12, "0")}`, source: "chat", user: { id: "v1" }, message: { text, attachments: [] }, metadata: { received_at: new Date().toISOString(), conversation_id: `chat:restart${seq}` } };
}
const ctx = (m: CustomerMessage): AgentContext => ({
  conversationId: m.metadata.conversation_id!,
  session: emptySession(m.metadata.conversation_id!),
  previous: { intent: { label: "card_lost_stolen", confidence: 0.97 }, sentiment: { label: "neutral", urgency: { level: "low" } }, knowledge },
  signal: new AbortController().signal,
  log: createLogger("silent"),
});

describeWith("ollama", "drafting while a separate Ollama server is stopped and restarted", () => {
  let own: OwnOllama;
  beforeAll(async () => {
    if (!ollamaLocal.bin || !ollamaLocal.models) throw new Error("SERVICES_OLLAMA_BIN / SERVICES_OLLAMA_MODELS are not set; run the suite through scripts/test.sh");
    own = new OwnOllama(freePort());
    await own.start();
  }, 90_000);
  afterAll(async () => {
    await own?.stop();
    if (own) rmSync(own.home, { recursive: true, force: true });
  }, 60_000);

  test("stopped mid-stream: no retry after streamed text, a degraded (extractive) draft; restarted: the next draft retries and is generated", async () => {
    const gen = recording(new OllamaGenerator(opts(own.url, { ...REAL, retries: 8 })));
    const agent = createResponseAgent({ generator: gen, options: { company: "Northwind Bank", maxTokens: 24, timeoutMs: 240_000 } });
    // Warm: the model loads into our server's own runner.
    expect((await gen.generate(ask("hi", { maxTokens: 2 }))).ok).toBe(true);

    let stopping: Promise<void> | null = null;
    const killing = createResponseAgent({
      generator: { ...gen, generate: (r) => gen.generate({ ...r, onDelta: (d) => (r.onDelta?.(d), (stopping ??= own.stop())) }) },
      options: { company: "Northwind Bank", maxTokens: 24, timeoutMs: 240_000 },
    });
    const m1 = message("I lost my debit card, what now?");
    const r1 = await killing.run(m1, ctx(m1));
    await stopping;
    expect(r1.ok).toBe(true);
    const d1 = r1.ok ? (r1.value as ReplyDraft) : null;
    expect(gen.results[1]).toBe("llm_error");
    expect(d1!.mode).toBe("extractive");
    expect(d1!.fallback_reason).toContain("llm_error");
    expect(d1!.text).toContain("Freeze the card");
    expect(d1!.citations.map((c) => c.chunk_id)).toEqual(["cards#lost:0"]);

    // Down now: the draft's first attempts are refused; the server comes back while the generator backs off.
    const m2 = message("My card is gone, how do I block it?");
    const pending = agent.run(m2, ctx(m2));
    await Bun.sleep(300);
    await own.start();
    const r2 = await pending;
    expect(r2.ok).toBe(true);
    const g2 = gen.results[2] as Generation;
    expect(typeof g2).toBe("object");
    expect(g2.attempts).toBeGreaterThan(1);
    expect(g2.completionTokens).toBeGreaterThan(0);
    const d2 = r2.ok ? (r2.value as ReplyDraft) : null;
    expect(d2!.fallback_reason ?? "").not.toContain("llm_");
    expect(d2!.generator).toEqual({ kind: "ollama", model: MODEL });
  }, SLOW);

  test("down for the whole retry budget: llm_unavailable after every retry, and the draft degrades to the extractive answer", async () => {
    const gen = recording(new OllamaGenerator(opts(`http://127.0.0.1:${freePort()}`, { ...REAL, retries: 2 })));
    const agent = createResponseAgent({ generator: gen, options: { company: "Northwind Bank", maxTokens: 24 } });
    const m = message("I lost my card");
    const r = await agent.run(m, ctx(m));
    expect(r.ok).toBe(true);
    const d = r.ok ? (r.value as ReplyDraft) : null;
    expect(gen.results).toEqual(["llm_unavailable"]);
    expect(d!.mode).toBe("extractive");
    expect(d!.fallback_reason).toContain("llm_unavailable");
  }, SLOW);
});
