/**
 * Dumps the sentiment trainer's exact rows (airline train split + the calm Banking77 neutral rows, airline dev split,
 * TweetEval sentiment val) with both encoder inputs' embeddings (raw and cleaned text) and the serving tokenizer's
 * n-grams, for the candidate experiments of scripts/ml/sentiment_candidates.py.
 *
 *   bun scripts/ml/dump-sentiment.ts OUT_DIR
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { readLabelled, stratifiedSplit, type Example } from "../../src/ml/data.ts";
import { loadEmbedder } from "../../src/ml/index.ts";
import { ngrams } from "../../src/ml/tfidf.ts";
import { embeddingText, FRUSTRATION_CUES, PLAIN_QUESTION } from "../../src/ml/triage.ts";
import { embedAll } from "./lib.ts";

const ROOT = resolve(import.meta.dir, "../..");
const DATA = process.env.DATA_DIR ?? resolve(ROOT, "../shared/data");
const out = process.argv[2];
if (!out) {
  console.error("usage: bun scripts/ml/dump-sentiment.ts OUT_DIR");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

// The same rows, in the same order, as `bun run train:sentiment` (scripts/ml/train-head.ts).
const { train, dev } = stratifiedSplit(await readLabelled(join(DATA, "airline_sentiment/train.csv"), "text", "airline_sentiment", "airline_sentiment_confidence"), 0.1);
const checkRows = new Set((await Bun.file(join(import.meta.dir, "checksets/banking77-tone.csv")).text()).trim().split("\n").slice(1).map((l) => Number(l.split(",")[0])));
const bank = await readLabelled(join(DATA, "banking77/train.csv"), "text", "category");
const calm = (t: string) => PLAIN_QUESTION.test(t) && !FRUSTRATION_CUES.some((c) => c.re.test(t)) && !/!/.test(t);
const extra: Example[] = bank.map((r, i) => ({ r, i })).filter(({ r, i }) => !checkRows.has(i) && i % 3 === 1 && calm(r.text)).slice(0, 1000).map(({ r }) => ({ text: r.text, label: "neutral", weight: 1 }));
const names = ["negative", "neutral", "positive"];
const tTexts = (await Bun.file(join(DATA, "tweeteval_sentiment/val_text.txt")).text()).split("\n");
const tLabels = (await Bun.file(join(DATA, "tweeteval_sentiment/val_labels.txt")).text()).split("\n");
const tweeteval: Example[] = tLabels.flatMap((l, i) => (l.trim() === "" ? [] : [{ text: tTexts[i]!.trim(), label: names[Number(l)]!, weight: 1 }]));

const embedder = await loadEmbedder({ modelsDir: join(ROOT, "models") });
const sets: Record<string, Example[]> = { train: [...train, ...extra], dev, tweeteval };
for (const [name, rows] of Object.entries(sets)) {
  const raw = await embedAll(embedder, rows.map((r) => r.text), `${name} raw`);
  const cleaned = await embedAll(embedder, rows.map((r) => embeddingText(r.text)), `${name} cleaned`);
  await Bun.write(join(out, `${name}.raw.f32`), raw);
  await Bun.write(join(out, `${name}.cleaned.f32`), cleaned);
  await Bun.write(
    join(out, `${name}.jsonl`),
    rows.map((r, i) => JSON.stringify({ text: r.text, label: r.label, weight: r.weight ?? 1, extra: name === "train" && i >= train.length, ngrams: ngrams(r.text) })).join("\n") + "\n",
  );
}
await embedder.close();
console.log(JSON.stringify({ out, dim: embedder.dim, train: sets.train!.length, airline_train: train.length, dev: dev.length, tweeteval: tweeteval.length }));
