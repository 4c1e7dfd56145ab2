/**
 * A local stand-in for an Ollama server on 127.0.0.1 speaking the documented API: `GET /api/version`,
 * `GET /api/tags`, and `POST /api/chat` streaming NDJSON chunks (`message.content` deltas, then a `done: true`
 * chunk with `done_reason`, `prompt_eval_count`, `eval_count`). Each chat request follows a script so tests can
 * produce slow streams, stalls, HTTP errors and errors in the middle of a stream.
 */

/** How the server answers one chat request. */
export interface ChatScript {
  tokens?: string[];
  /** Delay before the response headers. */
  headerDelayMs?: number;
  /** Delay before each token. */
  tokenDelayMs?: number;
  /** Answer with this HTTP status and `{error}` body instead of a stream. */
  status?: number;
  error?: string;
  /** After this many tokens: stall for ever (no done chunk). */
  stallAfter?: number;
  /** After this many tokens: write an `{error}` line and end. */
  errorAfter?: number;
  doneReason?: "stop" | "length";
}

/** A running fake server. */
export interface FakeOllama {
  url: string;
  port: number;
  /** Bodies of the chat requests received, in order. */
  requests: Record<string, any>[];
  /** Requests that were cancelled by the client while streaming. */
  cancelled: number;
  stop(): Promise<void>;
}

const enc = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts the fake on a random port; `script` decides each chat answer (the n-th request gets index n). */
export function startFakeOllama(opts: { models?: string[]; script?: (body: Record<string, any>, n: number) => ChatScript } = {}): FakeOllama {
  const models = opts.models ?? ["copilot:latest"];
  const state = { requests: [] as Record<string, any>[], cancelled: 0 };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method === "GET" && url.pathname === "/api/version") return Response.json({ version: "0.6.4" });
      if (req.method === "GET" && url.pathname === "/api/tags") {
        return Response.json({ models: models.map((name) => ({ name, model: name, modified_at: new Date().toISOString(), size: 1, digest: "sha256:0", details: {} })) });
      }
      if (req.method !== "POST" || url.pathname !== "/api/chat") return Response.json({ error: "not found" }, { status: 404 });
      const body = (await req.json()) as Record<string, any>;
      const n = state.requests.push(body) - 1;
      const s = opts.script?.(body, n) ?? { tokens: ["Hello", " there", "."] };
      if (s.headerDelayMs) await sleep(s.headerDelayMs);
      if (!models.includes(body.model) && !models.includes(`${body.model}:latest`)) return Response.json({ error: `model '${body.model}' not found` }, { status: 404 });
      if (s.status) return Response.json({ error: s.error ?? "server error" }, { status: s.status });
      const tokens = s.tokens ?? [];
      const created = () => new Date().toISOString();
      const stream = new ReadableStream<Uint8Array>({
        async start(ctrl) {
          try {
            for (let i = 0; i < tokens.length; i++) {
              if (s.stallAfter !== undefined && i >= s.stallAfter) {
                await new Promise(() => {});
              }
              if (s.errorAfter !== undefined && i >= s.errorAfter) {
                ctrl.enqueue(enc.encode(JSON.stringify({ error: "model runner crashed" }) + "\n"));
                ctrl.close();
                return;
              }
              if (s.tokenDelayMs) await sleep(s.tokenDelayMs);
              ctrl.enqueue(enc.encode(JSON.stringify({ model: body.model, created_at: created(), message: { role: "assistant", content: tokens[i] }, done: false }) + "\n"));
            }
            ctrl.enqueue(
              enc.encode(
                JSON.stringify({
                  model: body.model, created_at: created(), message: { role: "assistant", content: "" }, done: true, done_reason: s.doneReason ?? "stop",
                  total_duration: 1, load_duration: 1, prompt_eval_count: 42, prompt_eval_duration: 1, eval_count: tokens.length, eval_duration: 1,
                }) + "\n",
              ),
            );
            ctrl.close();
          } catch {
            state.cancelled++;
          }
        },
        cancel() {
          state.cancelled++;
        },
      });
      return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port!,
    get requests() {
      return state.requests;
    },
    get cancelled() {
      return state.cancelled;
    },
    async stop() {
      await server.stop(true);
    },
  };
}
