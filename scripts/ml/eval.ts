/**
 * Evaluates a trained head on any CSV with a text and a label column.
 *
 *   bun run eval:intent    --data FILE.csv [--text-col text] [--label-col category] [--split dev]
 *   bun run eval:sentiment --data FILE.csv [--text-col text] [--label-col airline_sentiment] [--split dev]
 *
 * `--file` is accepted as an alias of `--data`. `--split dev` keeps only the deterministic dev split of the file (the
 * shipped heads are refit on train+dev, so that figure is optimistic; models/<task>/metrics.json has the honest one).
 * Prints accuracy, macro-F1, macro-recall, per-class precision/recall and the top confusion pairs, then ONE JSON line.
 * Labels the model does not know are an error, except that the sentiment eval maps positive/neutral/negative onto the
 * model's classes (frustrated counts as negative).
 */
import { join, resolve } from "node:path";
import { parseArgs, readLabelled, stratifiedSplit } from "../../src/ml/data.ts";
import { loadTriage } from "../../src/ml/index.ts";
import { embedAll, table } from "./lib.ts";

const ROOT = resolve(import.meta.dir, "../..");
const DATA = process.env.DATA_DIR ?? resolve(ROOT, "../shared/data");
const task = process.argv[2];
const args = parseArgs(process.argv.slice(3));
if (task !== "intent" && task !== "sentiment") {
  console.error("usage: bun scripts/ml/eval.ts intent|sentiment --data FILE.csv [--text-col NAME] [--label-col NAME] [--split dev]");
  process.exit(2);
}
const file = args.data ?? args.file ?? (task === "intent" ? join(DATA, "banking77/train.csv") : join(DATA, "airline_sentiment/train.csv"));
const textCol = args["text-col"] ?? "text";
let labelCol = args["label-col"];
if (!labelCol) {
  const header = (await Bun.file(file).text()).split(/\r?\n/, 1)[0]!.split(",");
  labelCol = ["label", "category", "airline_sentiment", "sentiment", "intent"].find((c) => header.includes(c)) ?? "label";
}
let rows = await readLabelled(file, textCol, labelCol);
if (args.split === "dev") rows = stratifiedSplit(rows, 0.1).dev;
if (rows.length === 0) {
  console.error(`${file}: no labelled rows`);
  process.exit(2);
}

const triage = await loadTriage({ modelsDir: args.models ?? join(ROOT, "models") });
const head = task === "intent" ? triage.model.intentHead : triage.model.sentimentHead;
const known = new Set(head.info.labels);
const norm = (l: string) => (task === "sentiment" ? (l.trim().toLowerCase() === "frustrated" ? "negative" : l.trim().toLowerCase()) : l.trim());
const unknownLabels = [...new Set(rows.map((r) => norm(r.label)).filter((l) => !known.has(l)))];
if (unknownLabels.length) {
  console.error(`error: ${file} has labels the ${task} model does not know: ${unknownLabels.slice(0, 10).join(", ")}${unknownLabels.length > 10 ? ", …" : ""}`);
  console.error(`the model knows: ${head.info.labels.join(", ")}`);
  process.exit(2);
}

const x = await embedAll(triage.embedder, rows.map((r) => r.text), `${task} eval`);
const vecs = rows.map((_, i) => x.subarray(i * triage.embedder.dim, (i + 1) * triage.embedder.dim));
const probs: Float32Array[] = [];
for (let i = 0; i < vecs.length; i += 256) probs.push(...(await head.probs(vecs.slice(i, i + 256), rows.slice(i, i + 256).map((r) => r.text))));
await triage.close();

const labels = head.info.labels;
const gold = rows.map((r) => norm(r.label));
const pred = probs.map((p) => labels[p.indexOf(Math.max(...p))]!);
const conf = probs.map((p) => Math.max(...p));
const classes = [...new Set([...gold])].sort();
const per = classes.map((c) => {
  const tp = gold.filter((g, i) => g === c && pred[i] === c).length;
  const fp = pred.filter((p, i) => p === c && gold[i] !== c).length;
  const fn = gold.filter((g, i) => g === c && pred[i] !== c).length;
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { label: c, support: tp + fn, precision, recall, f1 };
});
const accuracy = gold.filter((g, i) => g === pred[i]).length / gold.length;
const macroF1 = per.reduce((s, c) => s + c.f1, 0) / per.length;
const macroRecall = per.reduce((s, c) => s + c.recall, 0) / per.length;
const pairs = new Map<string, number>();
gold.forEach((g, i) => g !== pred[i] && pairs.set(`${g} → ${pred[i]}`, (pairs.get(`${g} → ${pred[i]}`) ?? 0) + 1));
const topPairs = [...pairs.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
const t = head.info.unknown_threshold;
const covered = conf.map((c) => c >= t);
const coverage = covered.filter(Boolean).length / conf.length;
const coveredAcc = gold.filter((g, i) => covered[i] && g === pred[i]).length / Math.max(1, covered.filter(Boolean).length);

console.log(`\n${task} on ${file}${args.split === "dev" ? " (dev split)" : ""}: ${rows.length} rows, ${classes.length} classes`);
table([["class", "support", "precision", "recall", "f1"], ...per.map((c) => [c.label, c.support, c.precision, c.recall, c.f1])]);
console.log("\ntop confusions (gold → predicted):");
for (const [p, n] of topPairs) console.log(`  ${String(n).padStart(4)}  ${p}`);
console.log(`\naccuracy ${accuracy.toFixed(4)}  macro-F1 ${macroF1.toFixed(4)}  macro-recall ${macroRecall.toFixed(4)}`);
if (task === "intent") console.log(`unknown threshold ${t}: covers ${(coverage * 100).toFixed(1)}% at ${(coveredAcc * 100).toFixed(2)}% accuracy`);
console.log(
  JSON.stringify({
    task, file, rows: rows.length, accuracy, macro_f1: macroF1, macro_recall: macroRecall,
    ...(task === "intent" ? { unknown_threshold: t, coverage, accuracy_on_covered: coveredAcc } : { recall_negative: per.find((c) => c.label === "negative")?.recall ?? null }),
    model: triage.embedder.id,
  }),
);
