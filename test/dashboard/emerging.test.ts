import { describe, expect, test } from "bun:test";
import { EMERGING, emergingTopics, poissonUpperTail } from "../../src/dashboard/emerging.ts";

/** Seeded hourly counts: a deterministic Poisson-like series around `rate` per hour (LCG + inversion). */
function hourly(rate: number, hours: number, seed: number): number[] {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  return Array.from({ length: hours }, () => {
    let k = 0;
    let p = Math.exp(-rate);
    let f = p;
    const x = u();
    while (x > f && k < 1000) {
      k++;
      p *= rate / k;
      f += p;
    }
    return k;
  });
}
const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

/** Splits a series (oldest first) into baseline and last-24 h counts, as the SQL does. */
const counts = (intent: string, series: number[]) => ({ intent, baseline: sum(series.slice(0, -24)), recent: sum(series.slice(-24)) });

describe("Poisson upper tail", () => {
  test("matches known values", () => {
    expect(poissonUpperTail(0, 3)).toBe(1);
    expect(poissonUpperTail(1, 2)).toBeCloseTo(1 - Math.exp(-2), 12);
    // P(X >= 10 | 2) = 4.649e-5 (R: ppois(9, 2, lower.tail = FALSE))
    expect(poissonUpperTail(10, 2)).toBeCloseTo(4.6498e-5, 8);
    expect(poissonUpperTail(60, 5)).toBeGreaterThan(0);
    expect(poissonUpperTail(60, 5)).toBeLessThan(1e-30);
  });
});

describe("emerging topics", () => {
  test("a flat series is not emerging", () => {
    const flat = hourly(2, 168, 42);
    const v = emergingTopics([counts("order_status", flat), counts("billing", hourly(0.5, 168, 7))], 144);
    expect(v.status).toBe("ok");
    expect(v.status === "ok" && v.topics).toEqual([]);
  });

  test("a true spike is emerging, ranked first, and the flat intent beside it is not", () => {
    const base = hourly(0.5, 144, 9);
    const spike = [...base, ...hourly(4, 24, 10)];
    const v = emergingTopics([counts("card_lost", spike), counts("order_status", hourly(2, 168, 42))], 144);
    expect(v.status).toBe("ok");
    if (v.status !== "ok") return;
    expect(v.topics.map((t) => t.intent)).toEqual(["card_lost"]);
    expect(v.topics[0]!.pValue).toBeLessThan(EMERGING.pValue);
    expect(v.topics[0]!.ratePerHour).toBeCloseTo((sum(base) + EMERGING.priorCount) / 144, 9);
  });

  test("a new intent needs the minimum count: 3 today against nothing before is not a topic", () => {
    const v = emergingTopics([{ intent: "fresh", recent: EMERGING.minCount - 1, baseline: 0 }], 144);
    expect(v.status === "ok" && v.topics).toEqual([]);
    const w = emergingTopics([{ intent: "fresh", recent: 12, baseline: 0 }], 144);
    expect(w.status === "ok" && w.topics.map((t) => t.intent)).toEqual(["fresh"]);
  });

  test("a fresh install says there is not enough history", () => {
    const v = emergingTopics([{ intent: "order_status", recent: 40, baseline: 0 }], 0);
    expect(v).toEqual({ status: "not_enough_history", baselineHours: 0, neededHours: EMERGING.minBaselineHours });
    expect(emergingTopics([{ intent: "order_status", recent: 40, baseline: 10 }], EMERGING.minBaselineHours - 1).status).toBe("not_enough_history");
  });
});
