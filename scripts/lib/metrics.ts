/** Area under the ROC curve: the chance that a positive row (y = 1) outscores a negative one (ties count half). */
export function auc(xs: readonly { y: number; s: number }[]): number {
  const pos = xs.filter((x) => x.y === 1).map((x) => x.s);
  const neg = xs.filter((x) => x.y === 0).map((x) => x.s);
  let w = 0;
  for (const p of pos) for (const n of neg) w += p > n ? 1 : p === n ? 0.5 : 0;
  return pos.length && neg.length ? w / (pos.length * neg.length) : Number.NaN;
}
