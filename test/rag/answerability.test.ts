import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { answerabilityFeatures, answerabilityScore, fitAnswerability, loadAnswerabilityHead, type AnswerabilityHead } from "../../src/rag/answerability.ts";
import { openKnowledge, type Knowledge } from "../../src/rag/index.ts";
import type { Passage } from "../../src/rag/types.ts";
import { HashEmbedder, tempDir } from "./helpers.ts";

const passage = (doc: string, score: number, text: string, bm25?: number): Passage => ({
  chunk_id: `${doc}:0`, doc_id: doc, collection: "kb", title: doc, section: "", text, source: doc, score, fused: 0, retrievers: ["dense"], ranks: { dense: 1 }, ...(bm25 !== undefined ? { bm25 } : {}),
});
const idf = (t: string) => (t === "refund" ? 3 : 1);

describe("answerability features", () => {
  test("describe the list they are given: gaps, IDF-weighted coverage, agreement, title similarity", () => {
    const list = [passage("refunds", 0.8, "A refund takes five days.", 4), passage("fees", 0.7, "Fees are listed online.", 8), passage("cards", 0.6, "Cards.", 1)];
    const f = answerabilityFeatures("refund time", list, idf, [0.9, 0.5, 0.4]);
    expect(f.top_cos).toBeCloseTo(0.8);
    expect(f.gap_cos).toBeCloseTo(0.1);
    expect(f.gap_mean_cos).toBeCloseTo(0.15);
    expect(f.coverage_top).toBeCloseTo(3 / 4); // "refund" (idf 3) of "refund time" (3 + 1)
    expect(f.first_is_closest).toBe(1);
    expect(f.first_bm25_share).toBeCloseTo(0.5);
    expect(f.title_cos_max).toBeCloseTo(0.9);
    expect(f.title_gap).toBeCloseTo(0.4);
    // The same query against the list without its first document: every feature is recomputed from what remains.
    const g = answerabilityFeatures("refund time", list.slice(1), idf, [0.5, 0.4]);
    expect(g.top_cos).toBeCloseTo(0.7);
    expect(g.coverage_top).toBe(0);
    expect(g.first_bm25_share).toBe(1);
  });

  test("scale-free features: ratios, plain coverage, title coverage and agreement do not depend on the cosine level", () => {
    const list = [passage("refunds", 0.8, "A refund takes five days.", 4), passage("fees", 0.7, "Fees are listed online.", 8), passage("cards", 0.6, "Cards.", 1)];
    const f = answerabilityFeatures("refund time", list, idf, [0.9, 0.5, 0.4]);
    expect(f.gap_ratio).toBeCloseTo(0.1 / 0.8);
    expect(f.coverage_plain).toBeCloseTo(1 / 2); // "refund" of {refund, time}
    expect(f.title_coverage).toBeCloseTo(1 / 2); // the title "refunds" stems to "refund"
    expect(f.bm25_gap).toBeCloseTo((8 - 4) / 8);
    expect(f.agree).toBe(0); // closest by cosine (refunds) is not the best keyword match (fees)
    // Halving every cosine leaves the ratio features unchanged.
    const half = answerabilityFeatures("refund time", list.map((p) => ({ ...p, score: p.score / 2 })), idf, [0.9, 0.5, 0.4]);
    expect(half.gap_ratio).toBeCloseTo(f.gap_ratio);
    expect(half.coverage_plain).toBe(f.coverage_plain);
    expect(half.agree).toBe(f.agree);
  });

  test("query-normalised features read the best cosine against the documents below the first five", () => {
    const deep = [0.7, 0.6, 0.58, 0.56, 0.55, 0.5, 0.52, 0.48, 0.5].map((s, i) => passage(`d${i}`, s, i ? "Other text." : "A refund takes five days.", i ? 1 : 4));
    const f = answerabilityFeatures("refund time", deep, idf, [0.9]);
    // Background = ranks 6..9: 0.5, 0.52, 0.48, 0.5 (mean 0.5, sd ~0.0141).
    const sd = Math.sqrt((0 + 0.02 ** 2 + 0.02 ** 2 + 0) / 4);
    expect(f.z_deep).toBeCloseTo((0.7 - 0.5) / (sd + 0.01));
    expect(f.margin_deep).toBeCloseTo((0.7 - 0.6) / (sd + 0.01));
    expect(f.rare_coverage).toBe(0.5); // of the two rarest words {refund, time}, "refund" is in the first passage
    expect(f.title_idf_coverage).toBe(0); // the title "d0" has neither
    const titled = answerabilityFeatures("refund time", [{ ...deep[0]!, title: "Refund times" }, ...deep.slice(1)], idf, [0.9]);
    expect(titled.title_idf_coverage).toBeCloseTo(1); // "refund" (3) and "time" (1) of 4
    // A list of five or fewer has no background: the query-normalised features saturate instead of dividing by zero.
    expect(answerabilityFeatures("refund time", deep.slice(0, 5), idf, [0.9]).z_deep).toBe(15);
  });

  test("the shipped default head is valid, on by default, and not trained on StackFAQ", async () => {
    const { loadConfig } = await import("../../src/config.ts");
    const path = loadConfig({}).rag.answerabilityHead!;
    expect(path).toBe("models/answerability/default.json");
    const h = loadAnswerabilityHead(path)!;
    expect(h).not.toBeNull();
    expect(h.trained.not_trained_on).toBe("StackFAQ");
    expect(JSON.stringify(h.trained.kbs)).not.toMatch(/stackfaq/i);
    expect(h.threshold).toBeGreaterThan(0);
    expect(loadConfig({ RAG_ANSWERABILITY_HEAD: "none" }).rag.answerabilityHead).toBeNull();
  });

  test("the fitted head separates what it was trained on and scores monotonically", () => {
    const X = Array.from({ length: 200 }, (_, i) => [i / 200, ((i * 7) % 13) / 13]);
    const y = X.map((x) => (x[0]! > 0.5 ? 1 : 0));
    const h = fitAnswerability(X, y, ["top_cos", "gap_cos"]);
    const head: AnswerabilityHead = { ...h, format: "answerability/v1", threshold: 0.5, embedder: "e", trained: {} };
    const at = (top: number) => answerabilityScore(head, { ...answerabilityFeatures("", [], idf, []), top_cos: top, gap_cos: 0.3 });
    expect(at(0.9)).toBeGreaterThan(0.9);
    expect(at(0.1)).toBeLessThan(0.1);
    expect(at(0.6)).toBeGreaterThan(at(0.55));
  });

  test("head files are validated; a missing file means no head", () => {
    const { dir, cleanup } = tempDir();
    try {
      expect(loadAnswerabilityHead(join(dir, "none.json"))).toBeNull();
      writeFileSync(join(dir, "bad.json"), JSON.stringify({ format: "answerability/v1", features: ["top_cos"], mean: [0], std: [1], weights: [], bias: 0, threshold: 0.5 }));
      expect(() => loadAnswerabilityHead(join(dir, "bad.json"))).toThrow(/not a valid answerability head/);
      writeFileSync(join(dir, "unknown.json"), JSON.stringify({ format: "answerability/v1", features: ["magic"], mean: [0], std: [1], weights: [1], bias: 0, threshold: 0.5 }));
      expect(() => loadAnswerabilityHead(join(dir, "unknown.json"))).toThrow(/unknown feature magic/);
    } finally {
      cleanup();
    }
  });

  test("the shipped StackFAQ head is valid and names the encoder it was trained with", () => {
    const h = loadAnswerabilityHead("models/answerability/stackfaq.json")!;
    expect(h.embedder).toMatch(/^bge-small-en-v1\.5@/);
    expect(h.threshold).toBeGreaterThan(0);
  });
});

describe("knowledge search with an answerability head", () => {
  const embedder = new HashEmbedder();
  const head = (bias: number, embedderId = embedder.id): AnswerabilityHead => ({ format: "answerability/v1", features: ["top_cos"], mean: [0], std: [1], weights: [0], bias, threshold: 0.5, embedder: embedderId, trained: {} });
  let dir: string;
  let cleanup: () => void;
  const open = (h: AnswerabilityHead | null, sub: string): Promise<Knowledge> =>
    openKnowledge({ embedder, dataDir: join(dir, sub), kbDir: "kb/northwind", params: { threshold: 0.2 }, answerability: h });
  beforeAll(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterAll(() => cleanup());

  test("abstains when the head says the passages do not answer, even though they clear the similarity threshold", async () => {
    const no = await open(head(-5), "no");
    const yes = await open(head(5), "yes");
    const none = await open(null, "none");
    const q = "I lost my debit card, how do I block it?";
    const [rNo, rYes, rNone] = await Promise.all([no.search(q), yes.search(q), none.search(q)]);
    expect(rNo.passages.length).toBeGreaterThan(0);
    expect(rNo.abstain).toBe(true);
    expect(rNo.answerability!.p).toBeLessThan(0.5);
    expect(rNo.abstain_reason).toContain("do not seem to answer");
    expect(rYes.abstain_reason).toBeNull();
    expect(rYes.abstain).toBe(false);
    expect(rYes.answerability!.p).toBeGreaterThan(0.5);
    expect(rNone.abstain).toBe(false);
    expect(rNone.answerability).toBeNull();
    await Promise.all([no.close(), yes.close(), none.close()]);
  });

  test("a head trained with another encoder is not used", async () => {
    const k = await open(head(-5, "another-encoder@1"), "other");
    const r = await k.search("I lost my debit card, how do I block it?");
    expect(r.answerability).toBeNull();
    expect(r.abstain).toBe(false);
    await k.close();
  });
});
