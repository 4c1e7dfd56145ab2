/** Figures of `eval:grounding` from per-query observations (pure, so the test can check them on a fixture). */

/** One draft as observed by the grounding eval. */
export interface DraftObservation {
  /** The draft's mode: generated | extractive | abstain | superseded. */
  mode: string;
  /** The knowledge agent abstained (or failed): the draft is a follow-up promise plus a clarifying question. */
  abstained: boolean;
  /** Threads of the draft's verified citations (after the citation check), in order. */
  citedThreads: string[];
  /** Threads of the passages the model was given (the first maxPassages of the knowledge output). */
  promptThreads: string[];
  /** Best cosine over all candidates (threshold ignored), for the what-if table. */
  topScore: number;
  /** The response agent's own run (total_ms). */
  draftMs: number;
  knowledgeMs: number;
  /** A stage-0 worker failed (the master would have degraded the result). */
  workerFailures: string[];
  /** Token-F1 of the draft against the gold answer (best over the gold thread's answers); absent when none is known. */
  answerF1?: number;
  /** P(answerable) from the answerability head, when one is loaded (for the cut-off what-if). */
  answerabilityP?: number;
}

/** One sampled dev query: its draft with the full KB and with its gold thread removed. */
export interface QueryObservation {
  query_id: string;
  gold: string;
  present: DraftObservation;
  removed: DraftObservation;
}

export interface ModeCount {
  n: number;
  gold_cited: number;
  any_citation: number;
}

export interface GroundingFigures {
  n: number;
  /** Gold present: share of drafts with a verified citation of the gold thread. */
  gold_cited_rate: number;
  /** Gold present: share of drafts with at least one verified citation. */
  any_citation_rate: number;
  /** Gold present: share of drafts that cite only other threads. */
  wrong_citation_rate_gold_present: number;
  /** Gold present: share that abstained (should be low). */
  abstain_rate_gold_present: number;
  /** Gold present: the gold thread was among the passages in the prompt (upper bound of gold_cited_rate). */
  gold_in_prompt_rate: number;
  /** Gold removed: share that abstained (follow-up + clarifying question; should be high). */
  abstain_rate_gold_removed: number;
  /** Gold removed: share that answered citing some other thread. */
  wrong_citation_rate_gold_removed: number;
  /** Gold removed: share that neither abstained nor cited anything (an uncited answer). */
  uncited_answer_rate_gold_removed: number;
  draft_p50_ms: number;
  draft_p95_ms: number;
  draft_p50_ms_gold_removed: number;
  knowledge_p50_ms: number;
  /** Gold present: mean token-F1 of the drafts against the gold answer (0 for an abstention); NaN→0 without answers. */
  answer_f1: number;
  /** How many gold-present drafts had a gold answer to compare with. */
  answer_f1_n: number;
  worker_failures: number;
  modes_gold_present: Record<string, ModeCount>;
  modes_gold_removed: Record<string, ModeCount>;
}

const r3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : 0);

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** Lower-cased word tokens for answer overlap (letters and digits; punctuation and citation marks dropped). */
function answerTokens(s: string): string[] {
  return s.toLowerCase().replace(/\[\d+\]|\[P\d+\]/gi, " ").match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** SQuAD-style token F1 between a draft and one reference answer (bag of words with counts). */
export function tokenF1(draft: string, reference: string): number {
  const d = answerTokens(draft);
  const r = answerTokens(reference);
  if (!d.length || !r.length) return 0;
  const counts = new Map<string, number>();
  for (const t of r) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of d) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      common++;
      counts.set(t, c - 1);
    }
  }
  if (!common) return 0;
  const p = common / d.length;
  const q = common / r.length;
  return (2 * p * q) / (p + q);
}

/** The best token F1 of a draft over several reference answers (a thread has several accepted answers). */
export function bestTokenF1(draft: string, references: readonly string[]): number {
  return references.reduce((m, r) => Math.max(m, tokenF1(draft, r)), 0);
}

/** Nearest-rank percentile (NaN for an empty list). */
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

function modes(obs: DraftObservation[], gold: string[]): Record<string, ModeCount> {
  const out: Record<string, ModeCount> = {};
  obs.forEach((o, i) => {
    const m = (out[o.mode] ??= { n: 0, gold_cited: 0, any_citation: 0 });
    m.n++;
    if (o.citedThreads.includes(gold[i]!)) m.gold_cited++;
    if (o.citedThreads.length) m.any_citation++;
  });
  return out;
}

/** Computes the figures; rates are shares of all sampled queries (3 decimals). */
export function groundingFigures(rows: QueryObservation[]): GroundingFigures {
  const n = rows.length;
  const share = (f: (r: QueryObservation) => boolean) => (n ? r3(rows.filter(f).length / n) : 0);
  const gold = rows.map((r) => r.gold);
  return {
    n,
    gold_cited_rate: share((r) => r.present.citedThreads.includes(r.gold)),
    any_citation_rate: share((r) => r.present.citedThreads.length > 0),
    wrong_citation_rate_gold_present: share((r) => r.present.citedThreads.length > 0 && !r.present.citedThreads.includes(r.gold)),
    abstain_rate_gold_present: share((r) => r.present.abstained),
    gold_in_prompt_rate: share((r) => r.present.promptThreads.includes(r.gold)),
    abstain_rate_gold_removed: share((r) => r.removed.abstained),
    wrong_citation_rate_gold_removed: share((r) => !r.removed.abstained && r.removed.citedThreads.length > 0),
    uncited_answer_rate_gold_removed: share((r) => !r.removed.abstained && r.removed.citedThreads.length === 0),
    draft_p50_ms: Math.round(percentile(rows.map((r) => r.present.draftMs), 50)),
    draft_p95_ms: Math.round(percentile(rows.map((r) => r.present.draftMs), 95)),
    draft_p50_ms_gold_removed: Math.round(percentile(rows.map((r) => r.removed.draftMs), 50)),
    knowledge_p50_ms: Math.round(percentile(rows.flatMap((r) => [r.present.knowledgeMs, r.removed.knowledgeMs]), 50)),
    answer_f1: r3(mean(rows.flatMap((r) => (r.present.answerF1 === undefined ? [] : [r.present.answerF1])))),
    answer_f1_n: rows.filter((r) => r.present.answerF1 !== undefined).length,
    worker_failures: rows.reduce((a, r) => a + r.present.workerFailures.length + r.removed.workerFailures.length, 0),
    modes_gold_present: modes(rows.map((r) => r.present), gold),
    modes_gold_removed: modes(rows.map((r) => r.removed), gold),
  };
}

/**
 * What-if on the abstain threshold (diagnostic only; the product's threshold is what the figures use): the share of
 * queries whose best cosine is below t, with the gold thread present and removed.
 */
export function thresholdWhatIf(rows: QueryObservation[], ts: number[]): { t: number; abstain_gold_present: number; abstain_gold_removed: number }[] {
  const n = rows.length || 1;
  return ts.map((t) => ({
    t,
    abstain_gold_present: r3(rows.filter((r) => r.present.topScore < t).length / n),
    abstain_gold_removed: r3(rows.filter((r) => r.removed.topScore < t).length / n),
  }));
}

/**
 * What-if on the answerability head's cut-off (diagnostic only, chosen with hindsight on the very queries it is
 * measured on, so it is a ceiling for this head, not a figure): abstain when the best cosine is below `threshold` or
 * P(answerable) is below c. A gold-present draft that cites the gold thread stops doing so when it would abstain; a
 * draft that abstained cites nothing, so below the product's own cut-off "gold cited" is a lower bound.
 */
export function cutoffWhatIf(rows: QueryObservation[], threshold: number, cuts: number[]): { cut: number; gold_cited: number; abstain_gold_present: number; abstain_gold_removed: number }[] {
  const n = rows.length || 1;
  const abstains = (o: DraftObservation, c: number) => o.topScore < threshold || (o.answerabilityP ?? 1) < c;
  return cuts.map((cut) => ({
    cut,
    gold_cited: r3(rows.filter((r) => !abstains(r.present, cut) && r.present.citedThreads.includes(r.gold)).length / n),
    abstain_gold_present: r3(rows.filter((r) => abstains(r.present, cut)).length / n),
    abstain_gold_removed: r3(rows.filter((r) => abstains(r.removed, cut)).length / n),
  }));
}

/** The what-if row with the most abstention with the gold removed among those meeting both gold-present targets. */
export function bestCutoff<T extends { gold_cited: number; abstain_gold_present: number; abstain_gold_removed: number }>(whatIf: T[], minCited = 0.95, maxPresent = 0.05): T | null {
  const ok = whatIf.filter((w) => w.gold_cited >= minCited && w.abstain_gold_present <= maxPresent);
  return ok.sort((x, y) => y.abstain_gold_removed - x.abstain_gold_removed)[0] ?? null;
}

/** Deterministic sample: a seeded Fisher–Yates shuffle (mulberry32), the first `limit` items. */
export function sample<T>(items: readonly T[], limit: number, seed: number): T[] {
  let s = seed >>> 0;
  const rnd = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, Math.max(0, Math.min(limit, a.length)));
}
