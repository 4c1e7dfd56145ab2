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
 *
 * eval:sentiment also runs the product path (head + rules: question prior, frustration evidence) over the rows and
 * over scripts/ml/checksets/banking77-tone.csv (Banking77 train rows labelled by reading: neutral / complaint /
 * frustrated) and reports the false negative/frustrated rate on the neutral questions.
 * eval:intent --report [FILE] writes the calibration report (reliability diagram, per-intent precision/recall,
 * coverage/accuracy of the unknown threshold) as JSON; default models/intent/calibration.json (the dashboard's
 * admin page "Models" shows it).
 * --embed-text cleaned|raw: what the encoder sees. Default `cleaned`, as the product does since issue 15: the customer's
 * words with greetings, sign-offs, signatures and quoted history removed (src/rag/query.ts; the raw text when nothing
 * is left), shared with retrieval. `raw` is the whole text (before issue 15). The n-gram features and the rules always
 * read the raw text.
 * --wrap realistic: wraps every row the way the benches' customers write (greeting, PII, context, sign-off;
 * scripts/lib/traffic.ts), to measure the heads on product-like messages rather than bare dataset sentences (the
 * sentiment check set's questions are wrapped too).
 */
import { join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { parseArgs, readLabelled, stratifiedSplit } from "../../src/ml/data.ts";
import { loadTriage } from "../../src/ml/index.ts";
import { embeddingText, rawEmbeddingText } from "../../src/ml/triage.ts";
import { embedAll, table } from "./lib.ts";
import { wrapRealistic } from "../lib/traffic.ts";

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
if (args.wrap === "realistic") rows = rows.map((r, i) => ({ ...r, text: wrapRealistic(r.text, i) }));
else if (args.wrap) {
  console.error("--wrap must be realistic");
  process.exit(2);
}
if (rows.length === 0) {
  console.error(`${file}: no labelled rows`);
  process.exit(2);
}

const embedText = args["embed-text"] ?? "cleaned";
if (embedText !== "cleaned" && embedText !== "raw") {
  console.error("--embed-text must be cleaned or raw");
  process.exit(2);
}
const triage = await loadTriage({ modelsDir: args.models ?? join(ROOT, "models") });
triage.model.embedTextOf = embedText === "raw" ? rawEmbeddingText : embeddingText;
const head = task === "intent" ? triage.model.intentHead : triage.model.sentimentHead;
const known = new Set(head.info.labels);
const norm = (l: string) => (task === "sentiment" ? (l.trim().toLowerCase() === "frustrated" ? "negative" : l.trim().toLowerCase()) : l.trim());
const unknownLabels = [...new Set(rows.map((r) => norm(r.label)).filter((l) => !known.has(l)))];
if (unknownLabels.length) {
  console.error(`error: ${file} has labels the ${task} model does not know: ${unknownLabels.slice(0, 10).join(", ")}${unknownLabels.length > 10 ? ", …" : ""}`);
  console.error(`the model knows: ${head.info.labels.join(", ")}`);
  process.exit(2);
}

const embedded = rows.map((r) => triage.model.embedTextOf(r.text));
const changed = embedded.filter((t, i) => t !== rows[i]!.text).length;
console.log(`encoder input: ${embedText} text (${changed}/${rows.length} rows differ from the raw text)`);
const x = await embedAll(triage.embedder, embedded, `${task} eval`);
const vecs = rows.map((_, i) => x.subarray(i * triage.embedder.dim, (i + 1) * triage.embedder.dim));
const probs: Float32Array[] = [];
for (let i = 0; i < vecs.length; i += 256) probs.push(...(await head.probs(vecs.slice(i, i + 256), rows.slice(i, i + 256).map((r) => r.text))));

const labels = head.info.labels;
const version = task === "intent" ? triage.model.versions.intent : triage.model.versions.sentiment;
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

console.log(`\n${task} on ${file}${args.split === "dev" ? " (dev split)" : ""}${args.wrap ? ` (wrapped: ${args.wrap})` : ""}: ${rows.length} rows, ${classes.length} classes`);
table([["class", "support", "precision", "recall", "f1"], ...per.map((c) => [c.label, c.support, c.precision, c.recall, c.f1])]);
console.log("\ntop confusions (gold → predicted):");
for (const [p, n] of topPairs) console.log(`  ${String(n).padStart(4)}  ${p}`);
console.log(`\naccuracy ${accuracy.toFixed(4)}  macro-F1 ${macroF1.toFixed(4)}  macro-recall ${macroRecall.toFixed(4)}`);

let extra: Record<string, unknown> = {};
if (task === "sentiment") {
  // The product path: head + rules, as the sentiment worker publishes it (frustrated counts as negative).
  const now = new Date().toISOString();
  const ruled: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    const a = await triage.model.analyze({ id: `eval-${i}`, text: rows[i]!.text, receivedAt: now, history: [] });
    ruled.push(a.sentiment.label === "frustrated" ? "negative" : a.sentiment.label);
  }
  const f1s = classes.map((c) => {
    const tp = gold.filter((g, i) => g === c && ruled[i] === c).length;
    const fp = ruled.filter((p, i) => p === c && gold[i] !== c).length;
    const fn = gold.filter((g, i) => g === c && ruled[i] !== c).length;
    return tp ? (2 * tp) / (2 * tp + fp + fn) : 0;
  });
  const ruledF1 = f1s.reduce((a, b) => a + b, 0) / f1s.length;
  // Check set: Banking77 rows labelled by reading (ids + sha1 prefix of the text, so a changed file is detected).
  const check = (await Bun.file(join(import.meta.dir, "checksets/banking77-tone.csv")).text()).trim().split("\n").slice(1).map((l) => l.split(","));
  const bank = await readLabelled(join(DATA, "banking77/train.csv"), "text", "category");
  const counts: Record<string, { n: number; negative: number; frustrated: number }> = {};
  const flagged: string[] = [];
  for (const [row, sha, label] of check) {
    const text = bank[Number(row)]?.text ?? "";
    if (createHash("sha1").update(text).digest("hex").slice(0, 10) !== sha) throw new Error(`check set row ${row} does not match banking77/train.csv`);
    const a = await triage.model.analyze({ id: `check-${row}`, text: args.wrap ? wrapRealistic(text, Number(row)) : text, receivedAt: now, history: [] });
    const c = (counts[label!] ??= { n: 0, negative: 0, frustrated: 0 });
    c.n++;
    if (a.sentiment.label === "negative") c.negative++;
    if (a.sentiment.label === "frustrated") c.frustrated++;
    if (label === "neutral" && (a.sentiment.label === "negative" || a.sentiment.label === "frustrated")) flagged.push(`${a.sentiment.label}: ${text.slice(0, 90)}`);
  }
  const neutral = counts.neutral ?? { n: 0, negative: 0, frustrated: 0 };
  const fnRate = (neutral.negative + neutral.frustrated) / Math.max(1, neutral.n);
  console.log(`\nwith the product rules: macro-F1 ${ruledF1.toFixed(4)}`);
  console.log(`\ncheck set (Banking77 rows labelled by reading):`);
  table([["label", "rows", "negative", "frustrated"], ...Object.entries(counts).map(([k, v]) => [k, v.n, v.negative, v.frustrated])]);
  console.log(`false negative/frustrated on neutral questions: ${(fnRate * 100).toFixed(1)}% (${neutral.negative + neutral.frustrated}/${neutral.n})`);
  for (const f of flagged) console.log(`  ${f}`);
  extra = { macro_f1_with_rules: ruledF1, checkset_neutral_rows: neutral.n, checkset_false_negative_rate: fnRate, checkset_frustrated_rate: neutral.frustrated / Math.max(1, neutral.n), checkset: counts };
}
if (task === "intent" && args.report) {
  const bins = 10;
  const yi = gold.map((g) => labels.indexOf(g));
  const right = probs.map((p, i) => p.indexOf(Math.max(...p)) === yi[i]);
  const reliability = Array.from({ length: bins }, (_, b) => {
    const lo = b / bins;
    const hi = (b + 1) / bins;
    const idx = conf.map((c, i) => (c > lo && c <= hi ? i : -1)).filter((i) => i >= 0);
    return { lo, hi, n: idx.length, confidence: idx.length ? idx.reduce((a, i) => a + conf[i]!, 0) / idx.length : null, accuracy: idx.length ? idx.filter((i) => right[i]).length / idx.length : null };
  });
  const eceValue = reliability.reduce((a, r) => a + (r.n && r.confidence !== null && r.accuracy !== null ? (r.n / conf.length) * Math.abs(r.accuracy - r.confidence) : 0), 0);
  const curve = Array.from({ length: 20 }, (_, k) => {
    const th = k * 0.05;
    const keep = conf.map((c) => c >= th);
    const kept = keep.filter(Boolean).length;
    return { threshold: Math.round(th * 100) / 100, coverage: kept / conf.length, accuracy: kept ? right.filter((r, i) => r && keep[i]).length / kept : null };
  });
  const report = {
    task, file: file.replace(DATA, "<data>").replace(resolve(ROOT, ".."), ".."), split: args.split ?? "all", rows: rows.length, version, accuracy, macro_f1: macroF1, ece: eceValue,
    unknown_threshold: t, coverage, accuracy_on_covered: coveredAcc, reliability, coverage_curve: curve,
    per_intent: per.map((c) => ({ label: c.label, support: c.support, precision: c.precision, recall: c.recall, f1: c.f1 })),
    at: new Date().toISOString(),
  };
  const out = args.report === "true" ? join(args.models ?? join(ROOT, "models"), "intent", "calibration.json") : args.report;
  await Bun.write(out, JSON.stringify(report, null, 1) + "\n");
  console.log(`\ncalibration report (ECE ${eceValue.toFixed(4)}) → ${out}`);
  extra = { report: out, ece: eceValue };
}
await triage.close();
if (task === "intent") console.log(`unknown threshold ${t}: covers ${(coverage * 100).toFixed(1)}% at ${(coveredAcc * 100).toFixed(2)}% accuracy`);
console.log(
  JSON.stringify({
    task, file, rows: rows.length, accuracy, macro_f1: macroF1, macro_recall: macroRecall,
    ...(task === "intent" ? { unknown_threshold: t, coverage, accuracy_on_covered: coveredAcc } : { recall_negative: per.find((c) => c.label === "negative")?.recall ?? null }),
    model: triage.embedder.id, version, embed_text: embedText, embed_text_changed_rows: changed, wrap: args.wrap ?? null, ...extra,
  }),
);
