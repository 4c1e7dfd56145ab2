import { existsSync, readFileSync } from "node:fs";
import { AppError } from "../errors.ts";
import { embedText } from "./chunker.ts";
import { tokenize } from "./text.ts";
import type { Passage } from "./types.ts";

/**
 * Answerability: "does the knowledge base answer this?" rather than "is something related?". A cosine threshold on the
 * best passage cannot tell the two apart (a neighbouring article about the same product scores as high as the right
 * one), so a small logistic head combines signals of the whole result list: how far the best passage stands out from
 * the next ones, how much of the query's rare vocabulary it contains, and whether the dense and keyword retrievers
 * agree on it. The head is trained by `bun run train:answerability` and stored as JSON next to the other heads.
 */

export const ANSWERABILITY_FEATURES = [
  "top_cos", // cosine similarity of the best passage
  "gap_cos", // best cosine minus the second best (other documents)
  "gap_mean_cos", // best cosine minus the mean of the next four
  "coverage_top", // share of the query's IDF mass present in the first passage
  "coverage_best", // the highest such share among the first three passages
  "first_is_closest", // 1 when the first passage (fused order) is also the closest by cosine in the list
  "first_bm25_share", // the first passage's keyword score over the best keyword score in the list
  "query_terms", // log(1 + content words in the query)
  "title_cos_first", // cosine between the query and the first passage's document title (for FAQs: its question)
  "title_cos_max", // the highest such cosine among the first five
  "title_gap", // that highest minus the second highest
  // Scale-free signals (ratios, shares, agreement) that transfer between KBs of different styles and sizes.
  "gap_ratio", // (best - second best cosine) / best
  "z_top", // best cosine in standard deviations above the next four
  "coverage_plain", // share of the query's content words (unweighted) found in the first passage
  "title_coverage", // share of the query's content words found in the first passage's title and section
  "bm25_gap", // (first - second highest keyword score in the list) / highest
  "agree", // 1 when the closest passage by cosine is also the best by keyword score
  // Query-normalised signals: the best cosine against this query's own background (documents ranked 6th and below),
  // so a KB whose unrelated documents all score high (one narrow domain) and one of many topics read alike.
  "z_deep", // (best cosine - mean of the background) / its deviation
  "margin_deep", // (best - second best cosine) / the background's deviation
  "rare_coverage", // share of the query's two rarest content words (highest IDF) found in the first passage
  "title_idf_coverage", // share of the query's IDF mass found in the first passage's title and section
] as const;

/** How many documents of the ranked list the features look at: the first five, and the rest as the query's background. */
export const DEEP_K = 30;

export type AnswerabilityFeatures = Record<(typeof ANSWERABILITY_FEATURES)[number], number>;

/** Terms of the query weighted by IDF, and the share of that weight a passage contains. */
function coverage(qterms: Map<string, number>, total: number, p: Passage): number {
  if (total <= 0) return 0;
  const have = new Set(tokenize(embedText(p)));
  let w = 0;
  for (const [t, idf] of qterms) if (have.has(t)) w += idf;
  return w / total;
}

/**
 * Features of one query against its ranked KB candidates (fused order, one passage per document, not thresholded).
 * `idf` is the collection's BM25 inverse document frequency of a tokenized term; `titleCos[i]` is the cosine between
 * the query and the title of `ranked[i]` (the first five are used). Every feature depends only on the
 * list it is given (no global ranks), so a list with some documents taken out describes a KB without them.
 */
export function answerabilityFeatures(query: string, ranked: readonly Passage[], idf: (term: string) => number, titleCos: readonly number[]): AnswerabilityFeatures {
  const qterms = new Map<string, number>();
  for (const t of tokenize(query)) qterms.set(t, idf(t));
  const total = [...qterms.values()].reduce((a, b) => a + b, 0);
  const top = ranked.slice(0, 5);
  const cos = top.map((p) => p.score);
  const best = cos.length ? Math.max(...cos) : 0;
  const rest = [...cos].sort((a, b) => b - a).slice(1);
  const first = top[0];
  const bestBm25 = Math.max(0, ...top.map((p) => p.bm25 ?? 0));
  const titles = titleCos.slice(0, top.length).sort((x, y) => y - x);
  const titleMax = titles[0] ?? 0;
  const qwords = new Set(tokenize(query));
  const share = (text: string) => {
    if (!qwords.size) return 0;
    const have = new Set(tokenize(text));
    let n = 0;
    for (const t of qwords) if (have.has(t)) n++;
    return n / qwords.size;
  };
  const restMean = rest.length ? rest.reduce((a, b) => a + b, 0) / rest.length : 0;
  const restSd = rest.length ? Math.sqrt(rest.reduce((a, b) => a + (b - restMean) ** 2, 0) / rest.length) : 0;
  const bm = top.map((p) => p.bm25 ?? 0).sort((x, y) => y - x);
  const closest = top.findIndex((p) => p.score >= best);
  // Background: cosines of the documents below the first five (callers pass up to DEEP_K documents).
  const deep = ranked.slice(5, DEEP_K).map((p) => p.score);
  const deepMean = deep.length ? deep.reduce((a, b) => a + b, 0) / deep.length : 0;
  const deepSd = deep.length ? Math.sqrt(deep.reduce((a, b) => a + (b - deepMean) ** 2, 0) / deep.length) : 0;
  const rare = [...qterms].sort((x, y) => y[1] - x[1]).slice(0, 2);
  const firstWords = first ? new Set(tokenize(embedText(first))) : new Set<string>();
  const titleWords = first ? new Set(tokenize(`${first.title} ${first.section}`)) : new Set<string>();
  const keyword = top.findIndex((p) => (p.bm25 ?? 0) >= bestBm25 && bestBm25 > 0);
  return {
    gap_ratio: rest.length && best > 0 ? (best - rest[0]!) / best : 1,
    z_top: rest.length ? Math.min(10, (best - restMean) / (restSd + 0.02)) : 10,
    coverage_plain: first ? share(embedText(first)) : 0,
    title_coverage: first ? share(`${first.title} ${first.section}`) : 0,
    bm25_gap: bm[0]! > 0 ? (bm[0]! - (bm[1] ?? 0)) / bm[0]! : 0,
    agree: closest >= 0 && closest === keyword ? 1 : 0,
    top_cos: best,
    z_deep: deep.length ? Math.min(15, (best - deepMean) / (deepSd + 0.01)) : 15,
    margin_deep: deep.length && rest.length ? Math.min(10, (best - rest[0]!) / (deepSd + 0.01)) : 10,
    rare_coverage: rare.length ? rare.filter(([t]) => firstWords.has(t)).length / rare.length : 0,
    title_idf_coverage: total > 0 ? [...qterms].reduce((a, [t, w]) => a + (titleWords.has(t) ? w : 0), 0) / total : 0,
    gap_cos: rest.length ? best - rest[0]! : best,
    gap_mean_cos: rest.length ? best - rest.reduce((a, b) => a + b, 0) / rest.length : best,
    coverage_top: first ? coverage(qterms, total, first) : 0,
    coverage_best: top.slice(0, 3).reduce((m, p) => Math.max(m, coverage(qterms, total, p)), 0),
    first_is_closest: first && first.score >= best ? 1 : 0,
    first_bm25_share: first?.bm25 && bestBm25 > 0 ? first.bm25 / bestBm25 : 0,
    query_terms: Math.log1p(qterms.size),
    title_cos_first: titleCos[0] ?? 0,
    title_cos_max: titleMax,
    title_gap: titles.length > 1 ? titleMax - titles[1]! : titleMax,
  };
}

/** A trained head: standardisation, logistic weights, and the probability below which the agent abstains. */
export interface AnswerabilityHead {
  format: "answerability/v1";
  features: string[];
  mean: number[];
  std: number[];
  weights: number[];
  bias: number;
  /** Abstain when P(answerable) is below this. */
  threshold: number;
  /** Encoder the features were computed with: cosine scales differ between encoders. */
  embedder: string;
  trained: Record<string, unknown>;
}

export function featureVector(f: AnswerabilityFeatures, names: readonly string[]): number[] {
  return names.map((n) => {
    const v = (f as Record<string, number>)[n];
    if (v === undefined) throw new AppError("bad_model", `answerability head uses unknown feature ${n}`);
    return v;
  });
}

/** P(the KB answers the query) under the head. */
export function answerabilityScore(head: AnswerabilityHead, f: AnswerabilityFeatures): number {
  const x = featureVector(f, head.features);
  let z = head.bias;
  for (let i = 0; i < x.length; i++) z += head.weights[i]! * ((x[i]! - head.mean[i]!) / (head.std[i]! || 1));
  return 1 / (1 + Math.exp(-z));
}

/** Loads a head file; null when the file does not exist (the agent then uses the similarity threshold alone). */
export function loadAnswerabilityHead(path: string): AnswerabilityHead | null {
  if (!existsSync(path)) return null;
  const h = JSON.parse(readFileSync(path, "utf8")) as AnswerabilityHead;
  const n = h.features?.length ?? 0;
  if (h.format !== "answerability/v1" || !n || h.mean?.length !== n || h.std?.length !== n || h.weights?.length !== n || typeof h.bias !== "number" || !(h.threshold > 0 && h.threshold < 1)) {
    throw new AppError("bad_model", `${path} is not a valid answerability head`);
  }
  for (const f of h.features) if (!(ANSWERABILITY_FEATURES as readonly string[]).includes(f)) throw new AppError("bad_model", `${path} uses unknown feature ${f}`);
  return h;
}

/**
 * Fits an L2-regularised logistic regression by full-batch gradient descent on standardised features (small data:
 * a few thousand rows). Returns the head without threshold and metadata.
 */
export function fitAnswerability(X: number[][], y: number[], names: readonly string[], o: { l2?: number; epochs?: number; lr?: number } = {}): Pick<AnswerabilityHead, "features" | "mean" | "std" | "weights" | "bias"> {
  const d = names.length;
  const n = X.length;
  if (!n) throw new AppError("bad_request", "no training rows");
  const mean = Array.from({ length: d }, (_, j) => X.reduce((a, r) => a + r[j]!, 0) / n);
  const std = Array.from({ length: d }, (_, j) => Math.sqrt(X.reduce((a, r) => a + (r[j]! - mean[j]!) ** 2, 0) / n) || 1);
  const Z = X.map((r) => r.map((v, j) => (v - mean[j]!) / std[j]!));
  const w = new Array<number>(d).fill(0);
  let b = 0;
  const l2 = o.l2 ?? 1e-3;
  const lr = o.lr ?? 0.5;
  for (let e = 0; e < (o.epochs ?? 2000); e++) {
    const g = new Array<number>(d).fill(0);
    let gb = 0;
    for (let i = 0; i < n; i++) {
      let z = b;
      for (let j = 0; j < d; j++) z += w[j]! * Z[i]![j]!;
      const err = 1 / (1 + Math.exp(-z)) - y[i]!;
      gb += err;
      for (let j = 0; j < d; j++) g[j]! += err * Z[i]![j]!;
    }
    for (let j = 0; j < d; j++) w[j]! -= lr * (g[j]! / n + l2 * w[j]!);
    b -= lr * (gb / n);
  }
  return { features: [...names], mean, std, weights: w, bias: b };
}
