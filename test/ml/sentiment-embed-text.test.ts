import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadEmbedder } from "../../src/ml/index.ts";
import type { OnnxEmbedder } from "../../src/ml/onnx-embedder.ts";
import { embeddingText } from "../../src/ml/triage.ts";
import { describeWith, services } from "../support/env.ts";

/**
 * `train-head.ts --embed-text cleaned` embeds what the product embeds (the cleaned words, triage.ts embeddingText),
 * not the raw message, and records it in labels.json. Needs the training python ($PYTHON: scripts/ml/setup-python.sh).
 */
const ROOT = resolve(import.meta.dir, "../..");
const PY = services.python ?? "python3";
const ROWS: Record<string, string[]> = {
  negative: ["My flight was delayed again, terrible service", "Lost my bag, terrible airline", "Delayed three hours and no help", "Worst service ever, flight cancelled", "Cancelled flight and rude staff", "Still waiting for my bag, awful", "Terrible delay and no updates", "Rude staff at the gate again", "My bag is lost and nobody helps", "Flight cancelled with no notice, awful"],
  neutral: ["What time does the flight to Boston leave?", "Can I change my seat online?", "How much is a checked bag?", "Is there wifi on the flight?", "Where do I find my booking number?", "Can I bring a pet on the flight?", "What is the baggage allowance?", "How do I change my booking?", "Does the flight have power outlets?", "Where is the check-in desk?"],
  positive: ["Great flight today, the crew was lovely", "Great crew on the morning flight", "Loved the service on board", "The upgrade made my day, great", "Amazing staff at the gate", "Great flight and friendly crew", "Quick help at the desk, brilliant", "Loved the new seats, great job", "Friendly crew and great snacks", "The help was amazing"],
};
// Mail-like wrapping that the query cleaning removes, so raw and cleaned encoder inputs differ on every row.
const wrap = (t: string) => `Hello team,\n\n${t}\n\nKind regards,\nAnna Smith`;

let dir: string;
let embedder: OnnxEmbedder;

describeWith("python", "train-head --embed-text cleaned", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "embedtext-models-"));
    symlinkSync(join(ROOT, "models/embed"), join(dir, "embed"));
    cpSync(join(ROOT, "models/sentiment"), join(dir, "sentiment"), { recursive: true });
    const csv = ["text,label", ...Object.entries(ROWS).flatMap(([label, texts]) => texts.map((t) => `"${wrap(t)}",${label}`))].join("\n") + "\n";
    writeFileSync(join(dir, "data.csv"), csv);
  });

  afterAll(async () => {
    await embedder?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the head is trained on the cleaned text's embeddings and says so in labels.json", async () => {
    const run = Bun.spawnSync(
      ["bun", join(ROOT, "scripts/ml/train-head.ts"), "sentiment", "--models", dir, "--data", join(dir, "data.csv"), "--text-col", "text", "--label-col", "label", "--embed-text", "cleaned", "--candidates", JSON.stringify([{ kind: "lr", C: 1 }])],
      { env: { ...process.env, PYTHON: PY }, stderr: "pipe", stdout: "pipe" },
    );
    if (run.exitCode !== 0) throw new Error(`training failed: ${run.stderr.toString()}`);
    const info = (await Bun.file(join(dir, "sentiment", "labels.json")).json()) as { embed_text?: string };
    expect(info.embed_text).toBe("cleaned");
    const metrics = (await Bun.file(join(dir, "sentiment", "metrics.json")).json()) as { embed_text: string };
    expect(metrics.embed_text).toBe("cleaned");

    // The round-trip sample's feature rows are the trainer's dev vectors: nearer the cleaned text's embedding than the raw one's.
    const rt = (await Bun.file(join(dir, "sentiment", "roundtrip.json")).json()) as { features: number[][]; texts: string[] };
    expect(rt.texts.length).toBeGreaterThan(0);
    embedder = await loadEmbedder({ modelsDir: dir });
    const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);
    for (let i = 0; i < rt.texts.length; i++) {
      const text = rt.texts[i]!;
      expect(embeddingText(text)).not.toBe(text);
      const [cleaned, raw] = await embedder.encode([embeddingText(text), text]);
      expect(cos(rt.features[i]!, cleaned!)).toBeGreaterThan(0.99);
      expect(cos(rt.features[i]!, cleaned!)).toBeGreaterThan(cos(rt.features[i]!, raw!) + 0.01);
    }
  }, 120_000);
});
