import { describe, expect, test } from "bun:test";
import { LlamaCppGenerator } from "../../src/llm/llamacpp.ts";
import { LLM_TEST_MODEL, testWith } from "../support/env.ts";

// The real GGUF is obtained by scripts/llm/obtain-model.sh (about 30 s; scripts/test.sh calls it). Without the file
// the real-generation tests skip outside CI and fail in CI; the missing-file test always runs.
const MODEL = LLM_TEST_MODEL;
const messages = [
  { role: "system" as const, content: "You are a support assistant. Answer in one short sentence." },
  { role: "user" as const, content: "Say hello to the customer." },
];

describe("LlamaCppGenerator (node-llama-cpp prebuilt CPU binaries under Bun)", () => {
  test("a missing model file is llm_unavailable with the obtain hint, not a crash", async () => {
    const g = new LlamaCppGenerator({ modelPath: "models/llm/none.gguf", threads: 1, contextSize: 512, queueTimeoutMs: 1000 });
    const r = await g.generate({ messages, maxTokens: 4, temperature: 0 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe("llm_unavailable");
      expect(r.error.message).toContain("obtain-model.sh");
    }
    expect(await g.ping()).toBe(false);
  });

  testWith("llmModel",
    "real generation streams tokens with timings; a second request reuses the context; abort stops early",
    async () => {
      const g = new LlamaCppGenerator({ modelPath: MODEL, threads: 2, contextSize: 1024, queueTimeoutMs: 60_000 });
      try {
        const deltas: string[] = [];
        const r = await g.generate({ messages, maxTokens: 8, temperature: 0, onDelta: (d) => deltas.push(d) });
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.value.generator).toBe("llamacpp");
        expect(r.value.text.trim().length).toBeGreaterThan(0);
        expect(deltas.join("")).toBe(r.value.text);
        expect(r.value.completionTokens).toBeGreaterThan(0);
        expect(r.value.completionTokens).toBeLessThanOrEqual(8);
        expect(r.value.ttftMs).not.toBeNull();
        expect(["stop", "length"]).toContain(r.value.finish);

        // Two concurrent requests are serialised on the one context sequence; the second reports its queue time.
        const ac = new AbortController();
        const [a, b] = await Promise.all([
          g.generate({ messages, maxTokens: 6, temperature: 0 }),
          g.generate({ messages, maxTokens: 64, temperature: 0, signal: ac.signal, onDelta: () => ac.abort() }),
        ]);
        expect(a.ok && b.ok).toBe(true);
        if (a.ok && b.ok) {
          expect(b.value.queueMs).toBeGreaterThan(0);
          expect(b.value.finish).toBe("aborted");
          expect(b.value.completionTokens).toBeLessThan(64);
        }
      } finally {
        await g.close();
      }
    },
    120_000,
  );
});
