/**
 * Triage latency and throughput on this machine: embedding + intent + sentiment/urgency + entities per message.
 *   bun run bench:triage [--n 400] [--concurrency 16]
 * Batch 1: one message at a time (p50/p99 per message). Batched: `concurrency` messages in flight through the same
 * code path the workers use (the embedder merges them into ONNX batches). Ends with one JSON line.
 */
import { join, resolve } from "node:path";
import { parseArgs, readLabelled } from "../../src/ml/data.ts";
import { loadConfig } from "../../src/config.ts";
import { loadTriage } from "../../src/ml/index.ts";
import { percentile, table } from "./lib.ts";

const ROOT = resolve(import.meta.dir, "../..");
const args = parseArgs(process.argv.slice(2));
const n = Number(args.n ?? 400);
const concurrency = Number(args.concurrency ?? 16);
const DATA = process.env.DATA_DIR ?? resolve(ROOT, "../shared/data");
const pool = [
  ...(await readLabelled(join(DATA, "banking77/train.csv"), "text", "category")),
  ...(await readLabelled(join(DATA, "airline_sentiment/train.csv"), "text", "airline_sentiment")),
].map((r) => r.text);
// Deterministic sample, distinct texts (so the embedding cache never answers), mixed banking + airline lengths.
const texts = [...new Set(pool.filter((_, i) => i % 7 === 3))].slice(0, n * 2 + 50);

const loadStart = performance.now();
// The encoder runs as in the product (ENCODER_WORKERS, ENCODER_THREADS), so the bench compares those settings too.
const { models } = loadConfig();
const triage = await loadTriage({
  modelsDir: args.models ?? join(ROOT, "models"),
  embedder: { workers: models.encoderWorkers, threads: models.encoderThreads ?? undefined },
});
const loadMs = performance.now() - loadStart;
let k = 0;
const next = () => ({ id: `bench-${k}`, text: texts[k++ % texts.length]!, receivedAt: new Date().toISOString(), history: [] });

for (let i = 0; i < 30; i++) await triage.model.analyze(next()); // warm-up

const lat: number[] = [];
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  await triage.model.analyze(next());
  lat.push(performance.now() - t0);
}
const b1Throughput = n / (lat.reduce((a, b) => a + b, 0) / 1000);

const batchedLat: number[] = [];
const t0 = performance.now();
let done = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (done < n) {
      done++;
      const s = performance.now();
      await triage.model.analyze(next());
      batchedLat.push(performance.now() - s);
    }
  }),
);
const batchedThroughput = n / ((performance.now() - t0) / 1000);
const rss = process.memoryUsage().rss / 1e6;
await triage.close();

table([
  ["mode", "msgs_per_s", "p50_ms", "p99_ms"],
  ["batch 1", b1Throughput, percentile(lat, 50), percentile(lat, 99)],
  [`batched (${concurrency} in flight)`, batchedThroughput, percentile(batchedLat, 50), percentile(batchedLat, 99)],
]);
console.log(`model load ${loadMs.toFixed(0)} ms, RSS ${rss.toFixed(0)} MB, ${n} messages per mode, encoder ${triage.embedder.id}`);
console.log(
  JSON.stringify({
    msgs_per_s_batch1: +b1Throughput.toFixed(1), p50_ms_batch1: +percentile(lat, 50).toFixed(2), p99_ms_batch1: +percentile(lat, 99).toFixed(2),
    msgs_per_s_batched: +batchedThroughput.toFixed(1), p50_ms_batched: +percentile(batchedLat, 50).toFixed(2), p99_ms_batched: +percentile(batchedLat, 99).toFixed(2),
    rss_mb: +rss.toFixed(0), load_ms: +loadMs.toFixed(0), concurrency, n,
  }),
);
