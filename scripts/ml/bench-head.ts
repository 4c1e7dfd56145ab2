/**
 * Run-time cost of one classification head alone (n-gram features + ONNX run), without the encoder:
 *   bun run bench:head [--head sentiment] [--models DIR] [--n 2000]
 * The input vectors are random unit vectors (a head's cost does not depend on their values); the texts are airline
 * tweets, so the tf-idf features are realistic. Prints ms per message at batch 1 and batch 16 and the size of the head's
 * files (RSS deltas of a single head were below the GC noise), and ends with one JSON line.
 */
import { join, resolve } from "node:path";
import { loadavg } from "node:os";
import { parseArgs, readLabelled } from "../../src/ml/data.ts";
import { OnnxHead } from "../../src/ml/head.ts";
import { readEncoderSpec } from "../../src/ml/onnx-embedder.ts";
import { resolveHead } from "../../src/ml/versions.ts";
import { percentile } from "./lib.ts";

const ROOT = resolve(import.meta.dir, "../..");
const DATA = process.env.DATA_DIR ?? resolve(ROOT, "../shared/data");
const args = parseArgs(process.argv.slice(2));
const modelsDir = args.models ?? join(ROOT, "models");
const name = args.head ?? "sentiment";
const n = Number(args.n ?? 2000);
const spec = await readEncoderSpec(join(modelsDir, "embed/bge-small-en-v1.5"));
const encoder = { id: `${spec.name}@${spec.sha256.slice(0, 12)}`, dim: spec.dim, spec };
const texts = (await readLabelled(join(DATA, "airline_sentiment/train.csv"), "text", "airline_sentiment")).map((r) => r.text).slice(0, n);
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const vectors = texts.map(() => {
  const v = Float32Array.from({ length: spec.dim }, rand);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
});

const dir = resolveHead(join(modelsDir, name)).dir;
const head = await OnnxHead.load(dir, encoder);
const sizes = await Promise.all(["head.onnx", "tfidf.json"].map((f) => Bun.file(join(dir, f)).exists().then((e) => (e ? Bun.file(join(dir, f)).size : 0))));
const fileMb = sizes.reduce((a, b) => a + b, 0) / 2 ** 20;
for (let i = 0; i < 50; i++) await head.probs([vectors[i]!], [texts[i]!]); // warm-up

const lat: number[] = [];
for (let i = 0; i < texts.length; i++) {
  const t0 = performance.now();
  await head.probs([vectors[i]!], [texts[i]!]);
  lat.push(performance.now() - t0);
}
const t0 = performance.now();
for (let i = 0; i < texts.length; i += 16) await head.probs(vectors.slice(i, i + 16), texts.slice(i, i + 16));
const batchedMs = (performance.now() - t0) / texts.length;
await head.close();
const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
const load = loadavg()[0]!.toFixed(2);
console.log(`${name} head (${modelsDir}): batch 1 mean ${mean.toFixed(3)} ms, p50 ${percentile(lat, 50).toFixed(3)} ms, p99 ${percentile(lat, 99).toFixed(3)} ms; batch 16 ${batchedMs.toFixed(3)} ms/msg; files ${fileMb.toFixed(1)} MB; load average ${load}`);
console.log(JSON.stringify({ head: name, n: texts.length, ms_batch1_mean: +mean.toFixed(3), ms_batch1_p50: +percentile(lat, 50).toFixed(3), ms_batch1_p99: +percentile(lat, 99).toFixed(3), ms_per_msg_batch16: +batchedMs.toFixed(3), files_mb: +fileMb.toFixed(1), load_average: +load }));
