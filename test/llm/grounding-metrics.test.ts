import { describe, expect, test } from "bun:test";
import { bestCutoff, bestTokenF1, cutoffWhatIf, groundingFigures, percentile, tokenF1, sample, thresholdWhatIf, type DraftObservation, type QueryObservation } from "../../scripts/llm/grounding-metrics.ts";

const obs = (o: Partial<DraftObservation>): DraftObservation => ({ mode: "generated", abstained: false, citedThreads: [], promptThreads: [], topScore: 0.8, draftMs: 100, knowledgeMs: 5, workerFailures: [], ...o });

// Four queries: gold cited; wrong thread cited; uncited answer; abstained. With the gold removed: abstain, wrong
// citation, uncited answer, abstain.
const rows: QueryObservation[] = [
  { query_id: "q1", gold: "t1", present: obs({ citedThreads: ["t1", "t2"], promptThreads: ["t1", "t2"], draftMs: 100 }), removed: obs({ mode: "abstain", abstained: true, topScore: 0.5, draftMs: 10 }) },
  { query_id: "q2", gold: "t2", present: obs({ mode: "extractive", citedThreads: ["t3"], promptThreads: ["t3", "t2"], draftMs: 200 }), removed: obs({ mode: "extractive", citedThreads: ["t3"], topScore: 0.7, draftMs: 20 }) },
  { query_id: "q3", gold: "t3", present: obs({ promptThreads: ["t9"], draftMs: 300 }), removed: obs({ topScore: 0.66, draftMs: 30 }) },
  { query_id: "q4", gold: "t4", present: obs({ mode: "abstain", abstained: true, topScore: 0.6, draftMs: 400 }), removed: obs({ mode: "abstain", abstained: true, topScore: 0.55, draftMs: 40 }) },
];

describe("eval:grounding figures", () => {
  test("rates are shares of all sampled queries; the three gold-removed outcomes add up to 1", () => {
    const f = groundingFigures(rows);
    expect(f.n).toBe(4);
    expect(f.gold_cited_rate).toBe(0.25);
    expect(f.any_citation_rate).toBe(0.5);
    expect(f.wrong_citation_rate_gold_present).toBe(0.25);
    expect(f.abstain_rate_gold_present).toBe(0.25);
    expect(f.gold_in_prompt_rate).toBe(0.5);
    expect(f.abstain_rate_gold_removed).toBe(0.5);
    expect(f.wrong_citation_rate_gold_removed).toBe(0.25);
    expect(f.uncited_answer_rate_gold_removed).toBe(0.25);
    expect(f.abstain_rate_gold_removed + f.wrong_citation_rate_gold_removed + f.uncited_answer_rate_gold_removed).toBe(1);
    expect(f.draft_p50_ms).toBe(200);
    expect(f.draft_p50_ms_gold_removed).toBe(20);
    expect(f.modes_gold_present).toEqual({ generated: { n: 2, gold_cited: 1, any_citation: 1 }, extractive: { n: 1, gold_cited: 0, any_citation: 1 }, abstain: { n: 1, gold_cited: 0, any_citation: 0 } });
    expect(f.modes_gold_removed.abstain!.n).toBe(2);
  });

  test("threshold what-if, percentile and the seeded sample", () => {
    expect(thresholdWhatIf(rows, [0.62, 0.68])).toEqual([
      { t: 0.62, abstain_gold_present: 0.25, abstain_gold_removed: 0.5 },
      { t: 0.68, abstain_gold_present: 0.25, abstain_gold_removed: 0.75 },
    ]);
    expect(percentile([5, 1, 3], 50)).toBe(3);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
    const xs = Array.from({ length: 50 }, (_, i) => i);
    expect(sample(xs, 10, 7)).toEqual(sample(xs, 10, 7));
    expect(sample(xs, 10, 7)).not.toEqual(sample(xs, 10, 8));
    expect(new Set(sample(xs, 50, 1)).size).toBe(50);
    expect(sample(xs, 500, 1)).toHaveLength(50);
    expect(groundingFigures([]).gold_cited_rate).toBe(0);
  });

  test("answer overlap: SQuAD token F1 (counts, case and citation marks ignored), best over a thread's answers, mean over drafts", () => {
    expect(tokenF1("Use ~~tildes~~ around the words [1].", "use tildes around the words")).toBe(1);
    expect(tokenF1("the the cat", "the cat sat")).toBeCloseTo(2 / 3, 5);
    expect(tokenF1("nothing shared", "other words")).toBe(0);
    expect(tokenF1("", "x")).toBe(0);
    expect(bestTokenF1("freeze the card", ["close the account", "freeze the card now"])).toBeCloseTo(2 * (3 / 3) * (3 / 4) / (1 + 3 / 4), 5);
    const f = groundingFigures([
      { ...rows[0]!, present: { ...rows[0]!.present, answerF1: 0.5 } },
      { ...rows[1]!, present: { ...rows[1]!.present, answerF1: 0.1 } },
      rows[2]!,
    ]);
    expect(f.answer_f1).toBe(0.3);
    expect(f.answer_f1_n).toBe(2);
  });

  test("the cut-off what-if abstains below the cosine threshold or below the cut-off, and the ceiling meets both targets", () => {
    const q = (gold: string, pIn: number, pOut: number, cited: string[]): QueryObservation => ({ query_id: gold, gold, present: obs({ citedThreads: cited, answerabilityP: pIn }), removed: obs({ citedThreads: ["x"], answerabilityP: pOut }) });
    const rs = [q("a", 0.9, 0.2, ["a"]), q("b", 0.8, 0.6, ["b"]), q("c", 0.7, 0.75, ["c"]), { ...q("d", 0.95, 0.1, ["d"]), removed: obs({ topScore: 0.5, answerabilityP: 0.99 }) }];
    const w = cutoffWhatIf(rs, 0.62, [0.5, 0.65, 0.72, 0.85]);
    expect(w.map((x) => x.abstain_gold_removed)).toEqual([0.5, 0.75, 0.75, 1]);
    expect(w.map((x) => x.abstain_gold_present)).toEqual([0, 0, 0.25, 0.5]);
    expect(w.map((x) => x.gold_cited)).toEqual([1, 1, 0.75, 0.5]);
    expect(bestCutoff(w, 0.95, 0.05)!.cut).toBe(0.65);
    expect(bestCutoff(w, 0.5, 0.5)!.cut).toBe(0.85);
    expect(bestCutoff(w, 1.01, 1)).toBeNull();
  });
});
