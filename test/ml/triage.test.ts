import { triageAgents } from "../../src/agents/triage/index.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AppError } from "../../src/errors.ts";
import { loadTriage, redact, type IntentOutput, type SentimentOutput, type Triage, type EntitiesOutput } from "../../src/ml/index.ts";
import type { AgentContext } from "../../src/agents/types.ts";
import type { CustomerMessage } from "../../src/schema/message.ts";
import type { Turn } from "../../src/session/interface.ts";
import { createLogger } from "../../src/obs/log.ts";
import { createKnowledgeAgent, type KnowledgeOutput } from "../../src/agents/knowledge/index.ts";
import { embeddingText } from "../../src/ml/triage.ts";
import { contextualQuery } from "../../src/rag/rewrite.ts";
import type { SearchOptions, SearchResult } from "../../src/rag/index.ts";

const MODELS = join(import.meta.dir, "../../models");
let triage: Triage;
beforeAll(async () => {
  triage = await loadTriage({ modelsDir: MODELS });
});
afterAll(() => triage.close());

const AT = "2025-03-12T10:00:00Z";
let seq = 0;
function message(text: string, at = AT): CustomerMessage {
  seq++;
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    source: "chat",
    user: { id: "u1" },
    message: { text, attachments: [] },
    metadata: { received_at: at, conversation_id: "c1" },
  };
}
function ctx(turns: Turn[] = []): AgentContext {
  return { conversationId: "c1", session: { conversationId: "c1", turns, state: {}, updatedAt: null }, previous: {}, signal: new AbortController().signal, log: createLogger("silent") };
}
async function run<T>(name: string, text: string, turns: Turn[] = [], at = AT): Promise<T> {
  const agent = triageAgents(triage.model).find((a) => a.name === name)!;
  const res = await agent.run(message(text, at), ctx(turns));
  if (!res.ok) throw res.error;
  return res.value as T;
}

describe("heads round-trip", () => {
  for (const task of ["intent", "sentiment"]) {
    test(`${task}: head.onnx reproduces the trainer's own probabilities`, async () => {
      const rt = (await Bun.file(join(MODELS, task, "roundtrip.json")).json()) as {
        features: number[][]; probs: number[][]; predicted: string[]; texts?: string[]; tfidf?: Record<string, number>[];
      };
      const head = task === "intent" ? triage.model.intentHead : triage.model.sentimentHead;
      if (head.tfidf) {
        // The serving n-gram featurizer must reproduce the trainer's sparse tf-idf values exactly.
        rt.texts!.forEach((text, i) => {
          const row = new Float32Array(head.tfidf!.size);
          head.tfidf!.fill(text, row);
          const nz = Object.fromEntries([...row.entries()].filter(([, v]) => v !== 0).map(([j, v]) => [String(j), v]));
          expect(Object.keys(nz).sort()).toEqual(Object.keys(rt.tfidf![i]!).sort());
          for (const [j, v] of Object.entries(rt.tfidf![i]!)) expect(Math.abs(nz[j]! - v)).toBeLessThan(1e-5);
        });
      }
      const got = await head.probs(rt.features.map((f) => Float32Array.from(f)), rt.texts);
      got.forEach((row, i) => {
        for (let j = 0; j < row.length; j++) expect(Math.abs(row[j]! - rt.probs[i]![j]!)).toBeLessThan(1e-4);
        expect(head.info.labels[row.indexOf(Math.max(...row))]).toBe(rt.predicted[i]!);
      });
    });
  }

  test("a head trained over another encoder is refused", async () => {
    const { OnnxHead } = await import("../../src/ml/head.ts");
    await expect(OnnxHead.load(join(MODELS, "intent"), { id: "other-encoder@000000000000", dim: 384, spec: { query_prefix: "" } })).rejects.toBeInstanceOf(AppError);
    await expect(OnnxHead.load(join(MODELS, "intent"), { id: triage.embedder.id, dim: 384, spec: { query_prefix: "query: " } })).rejects.toBeInstanceOf(AppError);
  });
});

describe("agents", () => {
  test("names and output shape the master stores", () => {
    expect(triageAgents(triage.model).map((a) => a.name)).toEqual(["intent", "sentiment", "entities"]);
  });

  test("intent on clear banking sentences", async () => {
    const cases: [string, string][] = [
      ["I still haven't received my new card, it's been two weeks", "card_arrival"],
      ["My card was stolen yesterday, please block it", "lost_or_stolen_card"],
      ["How do I change my PIN?", "change_pin"],
      ["What exchange rate do you use when I pay in euros?", "exchange_rate"],
      ["I was charged twice for the same coffee", "transaction_charged_twice"],
    ];
    for (const [text, want] of cases) {
      const out = await run<IntentOutput>("intent", text);
      expect(out.top[0]!.label).toBe(want);
      expect(out.top.length).toBe(3);
      expect(out.confidence).toBeGreaterThan(0);
      expect(out.confidence).toBeLessThanOrEqual(1);
    }
  });

  test("off-topic text falls below the unknown threshold", async () => {
    const out = await run<IntentOutput>("intent", "What's your favourite pizza topping?");
    expect(out.label).toBe("unknown");
    expect(out.confidence).toBeLessThan(out.threshold);
  });

  test("sentiment: positive is low urgency, angry repeat + deadline is frustrated and high", async () => {
    const pos = await run<SentimentOutput>("sentiment", "Thank you so much, the transfer arrived and your support was great!");
    expect(pos.label).toBe("positive");
    expect(pos.urgency.level).toBe("low");

    const history: Turn[] = [
      { role: "customer", text: "my transfer is missing", at: "2025-03-12T06:00:00Z", meta: { sentiment: "negative" } },
      { role: "customer", text: "any news on my transfer?", at: "2025-03-12T08:00:00Z", meta: { sentiment: "negative" } },
    ];
    const angry = await run<SentimentOutput>("sentiment", "This is ridiculous, my transfer STILL hasn't arrived and I need the money today!!", history);
    expect(angry.label).toBe("frustrated");
    expect(angry.urgency.level).toBe("high");
    expect(angry.urgency.reasons).toContain("third contact in 24 h");
    expect(angry.urgency.reasons.some((r) => r.includes("deadline"))).toBe(true);
    expect(angry.reasons.length).toBeGreaterThan(1);
  });

  test("frustration needs evidence in the text or the session, not an anger score alone; plain questions stay neutral", async () => {
    for (const text of ["Cancel my last transfer", "Is there a limit to top-up amounts?", "Why was my card declined?"]) {
      const out = await run<SentimentOutput>("sentiment", text);
      expect(out.label, text).not.toBe("frustrated");
      expect(out.label, text).not.toBe("negative");
    }
    const model = triage.model;
    // The head's probabilities say negative and the anger head says 0.96: without a cue it is negative, not frustrated.
    const input = { id: "m-anger", text: "Cancel my last transfer", receivedAt: "2025-03-12T09:00:00Z", history: [] };
    const intent = { label: "cancel_transfer", confidence: 0.99, top: [], threshold: 0.5, model: "x", version: "base" };
    const labels = model.sentimentHead.info.labels;
    const probs = Float32Array.from(labels, (l) => (l === "negative" ? 0.95 : 0.025));
    const noCue = model.sentiment(input, probs, 0.96, intent, model.entities(input.text));
    expect(noCue.label).toBe("negative");
    const cue = model.sentiment({ ...input, text: "Cancel my last transfer, third time I ask!!" }, probs, 0.2, intent, model.entities(input.text));
    expect(cue.label).toBe("frustrated");
    expect(cue.reasons.join(" ")).toContain("repeated attempts");
  });

  test("old contacts (more than 24 h ago) do not count", async () => {
    const history: Turn[] = [
      { role: "customer", text: "a", at: "2025-03-09T06:00:00Z" },
      { role: "customer", text: "b", at: "2025-03-10T06:00:00Z" },
    ];
    const out = await run<SentimentOutput>("sentiment", "How do I order a virtual card?", history);
    expect(out.urgency.reasons.join(" ")).not.toContain("contact in 24 h");
  });

  test("entities worker masks the card and its offsets drive redaction", async () => {
    const text = "Please refund £25.00 to card 4111 1111 1111 1111, email me at jo@example.com";
    const out = await run<EntitiesOutput>("entities", text);
    expect(out.has_pii).toBe(true);
    expect(JSON.stringify(out)).not.toContain("4111 1111 1111 1111");
    expect(out.entities.find((e) => e.type === "amount")!.meta).toEqual({ amount: 25, currency: "GBP" });
    expect(redact(text, out.entities).text).toBe("Please refund £25.00 to card [CARD_1], email me at [EMAIL_1]");
  });

  test("intent and sentiment of one message share a single embedding", async () => {
    const before = { ...triage.embedder.stats };
    const msg = message("Why was my card payment declined at the supermarket?");
    const [i, s] = await Promise.all([triageAgents(triage.model)[0]!.run(msg, ctx()), triageAgents(triage.model)[1]!.run(msg, ctx())]);
    expect(i.ok && s.ok).toBe(true);
    expect(triage.embedder.stats.encoded - before.encoded).toBe(1);
    // Retrieval embedding the same text as a query hits the cache.
    await triage.embedder.embed([msg.message.text], "query");
    expect(triage.embedder.stats.encoded - before.encoded).toBe(1);
  });
});

describe("one embedding per message for triage and retrieval (issue 15)", () => {
  // The knowledge worker over a search that builds and embeds its query as src/rag/index.ts does; it records the
  // vector it searched with.
  function knowledge() {
    const searched: { query: string; vec: Float32Array }[] = [];
    const agent = createKnowledgeAgent({
      search: async (q: string, o: SearchOptions = {}): Promise<SearchResult> => {
        const cq = contextualQuery(q, o.turns ?? [], { messageId: o.messageId });
        const [vec] = await triage.embedder.embed([cq.query], "query");
        searched.push({ query: cq.query, vec: vec! });
        return { query: cq.query, rewritten: cq.rewritten, abstain: true, threshold: 0, answerability: null, abstain_reason: "test", passages: [], guidance: [], tickets: [], timings_ms: { embed: 0, search: 0 } };
      },
    });
    return { agent, searched };
  }
  const turn = (id: string, text: string): Turn => ({ role: "customer", text, at: AT, message_id: id });

  test("the encoder input is the customer's cleaned words, or the raw text when nothing else is left", () => {
    expect(embeddingText("Hi Anna,\n\nHow do I change my PIN?\n\nBest regards,\nEmma Dubois")).toBe("How do I change my PIN?");
    expect(embeddingText("How do I change my PIN?")).toBe("How do I change my PIN?");
    const onlyPleasantries = "Hi there,\n\nThanks!\nEmma";
    expect(embeddingText(onlyPleasantries)).toBe(onlyPleasantries);
  });

  test("greeting + sign-off: intent, sentiment and the retrieval query cost ONE encoder run, tf-idf reads the raw text", async () => {
    const text = "Hello team,\n\nWhy was my card payment declined at the supermarket?!!\n\nKind regards,\nEmma Dubois";
    const msg = message(text);
    const k = knowledge();
    const seen: string[][] = [];
    const head = triage.model.sentimentHead;
    const probs = head.probs.bind(head);
    head.probs = async (v, t) => (seen.push(t ?? []), probs(v, t));
    const before = triage.embedder.stats.encoded;
    try {
      const [i, s, kn] = await Promise.all([triageAgents(triage.model)[0]!.run(msg, ctx()), triageAgents(triage.model)[1]!.run(msg, ctx()), k.agent.run(msg, ctx())]);
      expect(i.ok && s.ok && kn.ok).toBe(true);
      expect(triage.embedder.stats.encoded - before).toBe(1);
      expect(k.searched.map((x) => x.query)).toEqual(["Why was my card payment declined at the supermarket?!!"]);
      // The head's n-grams saw the whole message, greeting and sign-off included.
      expect(seen.flat()).toContain(text);
      // The shared vector is the cleaned words' one, not the raw text's.
      const [raw] = await triage.embedder.embed([text], "query");
      expect(k.searched[0]!.vec).not.toEqual(raw!);
    } finally {
      head.probs = probs;
    }
  });

  test("a message that is only pleasantries falls back to the raw text for triage (one run, no search)", async () => {
    const msg = message("Good morning,\n\nThank you so much!\n\nBest,\nMarc");
    const k = knowledge();
    const before = triage.embedder.stats.encoded;
    const [s, kn] = await Promise.all([triageAgents(triage.model)[1]!.run(msg, ctx()), k.agent.run(msg, ctx())]);
    expect(s.ok && kn.ok).toBe(true);
    expect(kn.ok && (kn.value as KnowledgeOutput).abstain).toBe(true);
    expect(k.searched).toHaveLength(0);
    expect(triage.embedder.stats.encoded - before).toBe(1);
    const [rawVec] = await triage.embedder.embed([msg.message.text], "query");
    expect(triage.embedder.stats.encoded - before).toBe(1);
    expect(rawVec!.length).toBe(triage.embedder.dim);
  });

  test("a follow-up searched with the conversation's context gets its own embedding; triage keeps the message's", async () => {
    const earlier = "My card payment was declined at the supermarket yesterday.";
    const msg = message("Hi,\n\nand what about that one?\n\nThanks,\nEmma");
    const turns = [turn("earlier-1", earlier), turn(msg.id, msg.message.text)];
    const k = knowledge();
    const before = triage.embedder.stats.encoded;
    const [i, kn] = await Promise.all([triageAgents(triage.model)[0]!.run(msg, ctx(turns)), k.agent.run(msg, ctx(turns))]);
    expect(i.ok && kn.ok).toBe(true);
    expect(k.searched[0]!.query).toBe(`${earlier} and what about that one?`);
    expect(kn.ok && (kn.value as KnowledgeOutput).rewritten).toBe(true);
    // Two runs: the cleaned message for the heads, the rewritten query for retrieval; each searched with its own vector.
    expect(triage.embedder.stats.encoded - before).toBe(2);
    const [own] = await triage.embedder.embed(["and what about that one?"], "query");
    const [ctxVec] = await triage.embedder.embed([k.searched[0]!.query], "query");
    expect(triage.embedder.stats.encoded - before).toBe(2);
    expect(k.searched[0]!.vec).toEqual(ctxVec!);
    expect(k.searched[0]!.vec).not.toEqual(own!);
  });

  test("the intent worker's batch warm-up embeds the cleaned texts the analyses and searches then reuse", async () => {
    const msgs = ["Hi,\n\nHow do I top up by bank transfer?\n\nCheers, Tom", "Dear support,\n\nmy new card has not arrived yet\n\nRegards,\nAna Lopez"].map((t) => message(t));
    const before = triage.embedder.stats.encoded;
    await triageAgents(triage.model)[0]!.prepare!(msgs.map((m) => ({ msg: m, session: ctx().session })));
    expect(triage.embedder.stats.encoded - before).toBe(2);
    const k = knowledge();
    for (const m of msgs) {
      const [i, kn] = await Promise.all([triageAgents(triage.model)[0]!.run(m, ctx()), k.agent.run(m, ctx())]);
      expect(i.ok && kn.ok).toBe(true);
    }
    expect(triage.embedder.stats.encoded - before).toBe(2);
  });

  test("TRIAGE_EMBED_TEXT=raw restores the whole message as the heads' encoder input", async () => {
    const { loadConfig } = await import("../../src/config/index.ts");
    const env = { DATABASE_URL: "postgres://u:p@127.0.0.1:5432/db", REDIS_URL: "redis://127.0.0.1:6379" };
    expect(loadConfig(env).models.embedText).toBe("cleaned");
    expect(loadConfig({ ...env, TRIAGE_EMBED_TEXT: "raw" }).models.embedText).toBe("raw");
    expect(() => loadConfig({ ...env, TRIAGE_EMBED_TEXT: "both" })).toThrow();
    const raw = await loadTriage({ modelsDir: MODELS, embedText: "raw" });
    try {
      const text = "Hi,\n\nHow do I change my PIN?\n\nThanks,\nEmma";
      const before = raw.embedder.stats.encoded;
      await triageAgents(raw.model)[0]!.run(message(text), ctx());
      expect(raw.embedder.stats.encoded - before).toBe(1);
      await raw.embedder.embed([text], "query");
      expect(raw.embedder.stats.encoded - before).toBe(1);
    } finally {
      await raw.close();
    }
  });

  test("a greeting and sign-off around a plain question do not hide it from the question rule", () => {
    const m = triage.model;
    const labels = m.sentimentHead.info.labels;
    const probs = Float32Array.from(labels.map((l) => (l === "negative" ? 0.7 : 0.15)));
    const intent = { label: "declined_card_payment", confidence: 0.9, top: [], threshold: 0.5, model: "x", version: "base" };
    const text = "Hello team,\n\nWhy was my card payment declined?\n\nKind regards,\nEmma Dubois";
    const out = m.sentiment({ id: "pq", text, receivedAt: AT, history: [] }, probs, 0.1, intent, m.entities(text, AT));
    expect(out.label).toBe("neutral");
    expect(out.reasons.join(" ")).toContain("plain question");
  });
});

