/**
 * Emerging topics: is an intent's volume over the last 24 hours more than its own history explains?
 * The rule and its thresholds are documented in docs/analytics.md.
 */

/** Thresholds of the emerging-topic test. */
export const EMERGING = {
  /** Length of the "recent" window, in hours. */
  recentHours: 24,
  /** Longest baseline used (the 6 days before the recent window), in hours. */
  maxBaselineHours: 144,
  /** Below this much baseline history nothing is called emerging: the page says "not enough history". */
  minBaselineHours: 72,
  /** An intent needs at least this many messages in the recent window to be a topic at all. */
  minCount: 5,
  /** One-sided Poisson p-value below which the recent count is called significant. */
  pValue: 0.001,
  /** Added to a baseline count so an intent never seen before has a small, non-zero expected rate. */
  priorCount: 0.5,
} as const;

/** Per-intent counts: messages in the recent window and in the baseline window. */
export interface IntentCounts {
  intent: string;
  recent: number;
  baseline: number;
}

/** One intent that passed the test. */
export interface EmergingTopic {
  intent: string;
  recent: number;
  /** Count expected in the recent window at the baseline hourly rate. */
  expected: number;
  /** Baseline rate, messages per hour. */
  ratePerHour: number;
  pValue: number;
}

/** The verdict for the analytics page. */
export type EmergingVerdict = { status: "not_enough_history"; baselineHours: number; neededHours: number } | { status: "ok"; baselineHours: number; topics: EmergingTopic[] };

const logFactorial = (() => {
  const cache = [0];
  return (n: number) => {
    for (let i = cache.length; i <= n; i++) cache.push(cache[i - 1]! + Math.log(i));
    return cache[n]!;
  };
})();

/** P(X >= k) for X ~ Poisson(lambda), summed in log space from k upward so tiny tails keep their precision. */
export function poissonUpperTail(k: number, lambda: number): number {
  if (k <= 0) return 1;
  if (lambda <= 0) return 0;
  let p = 0;
  for (let i = k; i < k + 1000; i++) {
    const term = Math.exp(i * Math.log(lambda) - lambda - logFactorial(i));
    p += term;
    if (i > lambda && term < p * 1e-15) break;
  }
  return Math.min(1, p);
}

/**
 * Applies the rule: with at least `minBaselineHours` of baseline, an intent is emerging when it has `minCount`
 * or more messages in the last 24 h and P(X >= recent | Poisson(24 h x baseline hourly rate)) < `pValue`.
 * Topics are ordered by p-value, strongest first.
 */
export function emergingTopics(counts: IntentCounts[], baselineHours: number, limit = 5, o: typeof EMERGING = EMERGING): EmergingVerdict {
  const hours = Math.max(0, Math.min(baselineHours, o.maxBaselineHours));
  if (hours < o.minBaselineHours) return { status: "not_enough_history", baselineHours: hours, neededHours: o.minBaselineHours };
  const topics: EmergingTopic[] = [];
  for (const c of counts) {
    if (c.recent < o.minCount) continue;
    const ratePerHour = (c.baseline + o.priorCount) / hours;
    const expected = ratePerHour * o.recentHours;
    const pValue = poissonUpperTail(c.recent, expected);
    if (pValue < o.pValue) topics.push({ intent: c.intent, recent: c.recent, expected, ratePerHour, pValue });
  }
  topics.sort((a, b) => a.pValue - b.pValue || b.recent - a.recent);
  return { status: "ok", baselineHours: hours, topics: topics.slice(0, limit) };
}
