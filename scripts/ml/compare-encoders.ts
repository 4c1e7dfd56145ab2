/**
 * Chooses the sentence encoder by measurement: Banking77 dev-split linear-probe accuracy and CPU speed of every
 * candidate folder given (obtain them with `scripts/ml/obtain-models.sh --candidates DIR`).
 *   bun scripts/ml/compare-encoders.ts DIR/bge-small-en-v1.5 DIR/all-MiniLM-L6-v2 DIR/e5-small-v2
 */
import { join } from "node:path";
import { tmpdir } from "node:os";
import { OnnxEmbedder } from "../../src/ml/onnx-embedder.ts";
import { parseArgs, readLabelled, stratifiedSplit } from "../../src/ml/data.ts";
import { embedAll, percentile, python, table } from "./lib.ts";

const args = parseArgs(process.argv.slice(2));
const dirs = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const data = args.data ?? join(import.meta.dir, "../../../shared/data/banking77/train.csv");
const rows = await readLabelled(data, "text", "category");
const { train, dev } = stratifiedSplit(rows, 0.1);
const results: (string | number)[][] = [["encoder", "dev_acc_C10", "dev_acc_C100", "p50_ms_b1", "p99_ms_b1", "texts_per_s_b32", "onnx_MB"]];
for (const dir of dirs) {
  const e = await OnnxEmbedder.load(dir, { threads: 2 });
  const xtr = await embedAll(e, train.map((r) => r.text), `${e.spec.name} train`);
  const xdv = await embedAll(e, dev.map((r) => r.text), `${e.spec.name} dev`);
  const base = join(tmpdir(), `probe-${e.spec.name}`);
  await Bun.write(`${base}-xtr.f32`, xtr);
  await Bun.write(`${base}-xdv.f32`, xdv);
  await Bun.write(`${base}-ytr.txt`, train.map((r) => r.label).join("\n"));
  await Bun.write(`${base}-ydv.txt`, dev.map((r) => r.label).join("\n"));
  const acc = (await python("probe_encoders.py", [`${base}-xtr.f32`, `${base}-ytr.txt`, `${base}-xdv.f32`, `${base}-ydv.txt`, String(e.dim)])) as Record<string, number>;
  const prefix = e.spec.query_prefix;
  const lat: number[] = [];
  for (const r of dev.slice(0, 300)) {
    const t0 = performance.now();
    await e.encode([prefix + r.text]);
    lat.push(performance.now() - t0);
  }
  const texts = dev.slice(0, 512).map((r) => prefix + r.text);
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += 32) await e.encode(texts.slice(i, i + 32));
  const tput = texts.length / ((performance.now() - t0) / 1000);
  const size = Bun.file(join(dir, e.spec.onnx)).size / 1e6;
  results.push([e.spec.name, acc.lr_C10!, acc.lr_C100!, percentile(lat, 50), percentile(lat, 99), tput, size]);
  await e.close();
}
table(results);
console.log(JSON.stringify(results));
