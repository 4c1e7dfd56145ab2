/** The correction loop's pieces: reading the dashboard's JSONL export and comparing the head in service with a retrained one. */
import { join } from "node:path";
import type { Example } from "../../src/ml/data.ts";
import { OnnxHead } from "../../src/ml/head.ts";
import { loadEmbedder } from "../../src/ml/index.ts";
import { embedAll } from "./lib.ts";

/** Reads `label-corrections.jsonl` (dashboard export): the latest correction of `field` per message, labels the model knows. */
export async function readCorrections(path: string, field: "intent" | "sentiment", known: string[]): Promise<{ examples: Example[]; skipped: string[] }> {
  const latest = new Map<string, Example>();
  const skipped: string[] = [];
  const lines = (await Bun.file(path).text()).split("\n").filter((l) => l.trim());
  lines.forEach((line, i) => {
    let r: { message_id?: unknown; field?: unknown; label?: unknown; text?: unknown };
    try {
      r = JSON.parse(line);
    } catch {
      skipped.push(`line ${i + 1}: not JSON`);
      return;
    }
    if (r.field !== field) return;
    if (typeof r.text !== "string" || typeof r.label !== "string" || !r.text.trim()) {
      skipped.push(`line ${i + 1}: no text or label`);
      return;
    }
    // The sentiment head has 3 classes; "frustrated" is a rule on top of "negative".
    const label = field === "sentiment" ? (r.label.toLowerCase() === "frustrated" ? "negative" : r.label.toLowerCase()) : r.label;
    if (!known.includes(label)) {
      skipped.push(`line ${i + 1}: label ${JSON.stringify(label).slice(0, 60)} is not one the model knows`);
      return;
    }
    latest.set(typeof r.message_id === "string" ? r.message_id : `line-${i}`, { text: r.text, label });
  });
  return { examples: [...latest.values()], skipped };
}

interface Scores {
  accuracy: number;
  per: Record<string, { precision: number; recall: number; support: number }>;
  pairs: Record<string, number>;
}

function score(gold: string[], pred: string[]): Scores {
  const classes = [...new Set([...gold, ...pred])].sort();
  const per: Scores["per"] = {};
  for (const c of classes) {
    const tp = gold.filter((g, i) => g === c && pred[i] === c).length;
    const fp = pred.filter((p, i) => p === c && gold[i] !== c).length;
    const fn = gold.filter((g, i) => g === c && pred[i] !== c).length;
    per[c] = { precision: tp + fp ? tp / (tp + fp) : 0, recall: tp + fn ? tp / (tp + fn) : 0, support: tp + fn };
  }
  const pairs: Record<string, number> = {};
  gold.forEach((g, i) => g !== pred[i] && (pairs[`${g} → ${pred[i]}`] = (pairs[`${g} → ${pred[i]}`] ?? 0) + 1));
  return { accuracy: gold.length ? gold.filter((g, i) => g === pred[i]).length / gold.length : 1, per, pairs };
}

/** One head's figures on the held-out split, the corrected examples and both together. */
export interface HeadScores {
  version: string;
  dev: Scores;
  corrected: Scores;
  overall: number;
}

/**
 * Scores the head in service and the new one on the same rows, writes report.json and report.md into `outDir`
 * (per-class precision/recall changes, confusion pairs whose count moved) and says whether the new one is not worse
 * overall (accuracy on dev + corrected examples).
 */
export async function compareHeads(o: {
  modelsDir: string;
  taskDir: string;
  task: "intent" | "sentiment";
  oldDir: string;
  oldVersion: string;
  newDir: string;
  newVersion: string;
  dev: Example[];
  corrected: Example[];
  outDir: string;
  /** What the encoder sees (the trainer's --embed-text); both heads are scored on the same vectors. */
  embedTextOf?: (text: string) => string;
}): Promise<{ old: HeadScores; new: HeadScores; notWorse: boolean }> {
  const embedder = await loadEmbedder({ modelsDir: o.modelsDir });
  try {
    const rows = [...o.dev, ...o.corrected];
    // Dev and corrections are embedded separately so the dev matrix comes from the cache of earlier runs.
    const of = o.embedTextOf ?? ((t: string) => t);
    const xd = await embedAll(embedder, o.dev.map((r) => of(r.text)), `${o.task} dev`);
    const xc = o.corrected.length ? await embedAll(embedder, o.corrected.map((r) => of(r.text)), `${o.task} corrected`) : new Float32Array(0);
    const x = new Float32Array(xd.length + xc.length);
    x.set(xd);
    x.set(xc, xd.length);
    const vecs = rows.map((_, i) => x.subarray(i * embedder.dim, (i + 1) * embedder.dim));
    const run = async (dir: string, version: string): Promise<HeadScores> => {
      const head = await OnnxHead.load(dir, embedder);
      try {
        const pred: string[] = [];
        for (let i = 0; i < vecs.length; i += 256) {
          const probs = await head.probs(vecs.slice(i, i + 256), rows.slice(i, i + 256).map((r) => r.text));
          for (const p of probs) pred.push(head.info.labels[p.indexOf(Math.max(...p))]!);
        }
        const gold = rows.map((r) => r.label);
        const n = o.dev.length;
        const all = score(gold, pred);
        return { version, dev: score(gold.slice(0, n), pred.slice(0, n)), corrected: score(gold.slice(n), pred.slice(n)), overall: all.accuracy };
      } finally {
        await head.close();
      }
    };
    const before = await run(o.oldDir, o.oldVersion);
    const after = await run(o.newDir, o.newVersion);
    const notWorse = after.overall >= before.overall;
    const classes = [...new Set([...Object.keys(before.dev.per), ...Object.keys(after.dev.per)])].sort();
    const changes = classes
      .map((c) => {
        const b = before.dev.per[c] ?? { precision: 0, recall: 0, support: 0 };
        const a = after.dev.per[c] ?? { precision: 0, recall: 0, support: 0 };
        return { label: c, precision_old: b.precision, precision_new: a.precision, recall_old: b.recall, recall_new: a.recall, d_precision: a.precision - b.precision, d_recall: a.recall - b.recall };
      })
      .filter((c) => Math.abs(c.d_precision) > 1e-9 || Math.abs(c.d_recall) > 1e-9)
      .sort((p, q) => Math.abs(q.d_recall) + Math.abs(q.d_precision) - (Math.abs(p.d_recall) + Math.abs(p.d_precision)));
    const pairKeys = [...new Set([...Object.keys(before.dev.pairs), ...Object.keys(after.dev.pairs)])];
    const moved = pairKeys
      .map((k) => ({ pair: k, old: before.dev.pairs[k] ?? 0, new: after.dev.pairs[k] ?? 0 }))
      .filter((p) => p.old !== p.new)
      .sort((p, q) => Math.abs(q.new - q.old) - Math.abs(p.new - p.old));
    const report = {
      task: o.task, old_version: o.oldVersion, new_version: o.newVersion, dev_rows: o.dev.length, corrected_rows: o.corrected.length, not_worse: notWorse,
      old: { dev_accuracy: before.dev.accuracy, corrected_accuracy: before.corrected.accuracy, overall_accuracy: before.overall },
      new: { dev_accuracy: after.dev.accuracy, corrected_accuracy: after.corrected.accuracy, overall_accuracy: after.overall },
      per_class_changes: changes, confusion_pairs_moved: moved, at: new Date().toISOString(),
    };
    await Bun.write(join(o.outDir, "report.json"), JSON.stringify(report, null, 1) + "\n");
    const pct = (v: number) => (v * 100).toFixed(1);
    const md = [
      `# ${o.task} retrain ${o.newVersion} vs ${o.oldVersion}`,
      "",
      `| | dev (${o.dev.length}) | corrected (${o.corrected.length}) | overall |`,
      "|---|---|---|---|",
      `| old ${o.oldVersion} | ${pct(before.dev.accuracy)} | ${pct(before.corrected.accuracy)} | ${pct(before.overall)} |`,
      `| new ${o.newVersion} | ${pct(after.dev.accuracy)} | ${pct(after.corrected.accuracy)} | ${pct(after.overall)} |`,
      "",
      `Not worse overall: ${notWorse ? "yes" : "no"}.`,
      "",
      "## Per-class precision / recall that changed (dev)",
      "",
      "| class | precision old → new | recall old → new |",
      "|---|---|---|",
      ...changes.map((c) => `| ${c.label} | ${pct(c.precision_old)} → ${pct(c.precision_new)} | ${pct(c.recall_old)} → ${pct(c.recall_new)} |`),
      "",
      "## Confusion pairs that moved (dev, gold → predicted)",
      "",
      "| pair | old | new |",
      "|---|---|---|",
      ...moved.map((p) => `| ${p.pair} | ${p.old} | ${p.new} |`),
      "",
    ].join("\n");
    await Bun.write(join(o.outDir, "report.md"), md);
    return { old: before, new: after, notWorse };
  } finally {
    await embedder.close();
  }
}
