import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { OnnxHead } from "../../src/ml/head.ts";
import { loadEmbedder } from "../../src/ml/index.ts";
import type { OnnxEmbedder } from "../../src/ml/onnx-embedder.ts";
import { describeWith, services } from "../support/env.ts";

/**
 * The `lrpair` sentiment candidate (embedding + tf-idf LR averaged with an embedding-only LR in log-probability space)
 * is exported as one ONNX graph with two inputs; served through OnnxHead it must reproduce the trainer's own
 * probabilities. Needs the training python ($PYTHON: scripts/ml/setup-python.sh).
 */
const ROOT = resolve(import.meta.dir, "../..");
const PY = services.python ?? "python3";
const ROWS: Record<string, string[]> = {
  negative: ["My flight was delayed again, terrible service", "Lost my bag, terrible airline", "Delayed three hours and no help", "Worst service ever, flight cancelled", "Cancelled flight and rude staff", "Still waiting for my bag, awful", "Terrible delay and no updates", "Rude staff at the gate again", "My bag is lost and nobody helps", "Flight cancelled with no notice, awful"],
  neutral: ["What time does the flight to Boston leave?", "Can I change my seat online?", "How much is a checked bag?", "Is there wifi on the flight?", "Where do I find my booking number?", "Can I bring a pet on the flight?", "What is the baggage allowance?", "How do I change my booking?", "Does the flight have power outlets?", "Where is the check-in desk?"],
  positive: ["Thanks for the great flight!", "Great crew, thanks so much", "Loved the service, thank you", "Thanks for the upgrade, great day", "Amazing staff, thanks a lot", "Great flight and friendly crew", "Thank you for the quick help", "Loved the new seats, great job", "Friendly crew and great snacks, thanks", "Thanks, the help was amazing"],
};

let dir: string;
let embedder: OnnxEmbedder;

describeWith("python", "sentiment lrpair head", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "pair-models-"));
    symlinkSync(join(ROOT, "models/embed"), join(dir, "embed"));
    cpSync(join(ROOT, "models/sentiment"), join(dir, "sentiment"), { recursive: true });
    const csv = ["text,label", ...Object.entries(ROWS).flatMap(([label, texts]) => texts.map((t) => `"${t}",${label}`))].join("\n") + "\n";
    writeFileSync(join(dir, "data.csv"), csv);
  });

  afterAll(async () => {
    await embedder?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("trained as the only candidate, head.onnx reproduces the trainer's probabilities from TypeScript", async () => {
    const cand = { kind: "lrpair", C: 3, C_emb: 1, w: 0.7 };
    const run = Bun.spawnSync(
      ["bun", join(ROOT, "scripts/ml/train-head.ts"), "sentiment", "--models", dir, "--data", join(dir, "data.csv"), "--text-col", "text", "--label-col", "label", "--candidates", JSON.stringify([cand])],
      { env: { ...process.env, PYTHON: PY }, stderr: "pipe", stdout: "pipe" },
    );
    if (run.exitCode !== 0) throw new Error(`training failed: ${run.stderr.toString()}`);
    const metrics = (await Bun.file(join(dir, "sentiment", "metrics.json")).json()) as { chosen: unknown; tfidf_terms: number };
    expect(metrics.chosen).toEqual(cand);
    expect(metrics.tfidf_terms).toBeGreaterThan(0);

    embedder = await loadEmbedder({ modelsDir: dir });
    const head = await OnnxHead.load(join(dir, "sentiment"), embedder);
    const rt = (await Bun.file(join(dir, "sentiment", "roundtrip.json")).json()) as { features: number[][]; probs: number[][]; predicted: string[]; texts: string[] };
    expect(head.tfidf).not.toBeNull();
    const got = await head.probs(rt.features.map((f) => Float32Array.from(f)), rt.texts);
    expect(got.length).toBe(rt.probs.length);
    got.forEach((row, i) => {
      for (let j = 0; j < row.length; j++) expect(Math.abs(row[j]! - rt.probs[i]![j]!)).toBeLessThan(1e-4);
      expect(head.info.labels[row.indexOf(Math.max(...row))]).toBe(rt.predicted[i]!);
    });
    await head.close();
  }, 120_000);
});
