/**
 * bench:worker-memory — what a `ROLE=worker` process holds, component by component: the process is built up the way
 * src/main.ts builds it (modules, bus + database + sessions, encoder, heads, knowledge index, past-tickets consumer)
 * and RSS / JS heap / external memory are read after each step; then the master drains N realistic messages
 * preloaded on its topic (real Kafka, PostgreSQL, Redis, models) while memory is sampled every 100 ms.
 * Needs the real services (`eval "$(scripts/services.sh env)"`) like the worker; uses its own random topics.
 *
 *   bun run bench:worker-memory [--n 2000]
 *
 * Last line: {"rss_mb":<peak>,"steps":{"<step>":{"rss_mb":…,"peak_mb":…,"heap_mb":…,"external_mb":…},…}}
 */
import { heapStats } from "bun:jsc";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { numArg, waitUntil } from "./lib/bench.ts";
import { realisticTraffic } from "./lib/traffic.ts";

const N = numArg("n", 2000);
const DATA = process.env.BANKING77_TRAIN ?? join(import.meta.dir, "../../shared/data/banking77/train.csv");
const id = Math.random().toString(36).slice(2, 8);

const mb = (x: number) => Math.round((x / 1048576) * 10) / 10;
const steps: Record<string, { rss_mb: number; peak_mb: number; heap_mb: number; external_mb: number }> = {};
/** The process's peak RSS so far (VmHWM): transient allocations (model loading, a batch) show here, not in rss. */
const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) * 1024;
let prev = process.memoryUsage().rss;
function mark(step: string): void {
  Bun.gc(true);
  const m = process.memoryUsage();
  const h = heapStats();
  steps[step] = { rss_mb: mb(m.rss), peak_mb: mb(peakRss()), heap_mb: mb(h.heapSize), external_mb: mb(m.external) };
  console.log(`${step.padEnd(48)} rss ${mb(m.rss).toFixed(1).padStart(7)} MB (+${mb(m.rss - prev).toFixed(1).padStart(6)})  peak ${mb(peakRss()).toFixed(1).padStart(7)} MB  js heap ${mb(h.heapSize).toFixed(1).padStart(6)} MB  external ${mb(m.external).toFixed(1).padStart(6)} MB`);
  prev = m.rss;
}

mark("bun, nothing loaded");
const { benchWorkerConfig } = await import("./lib/config.ts");
const { openParts, startService } = await import("../src/runtime.ts");
const { openWorkers } = await import("../src/agents/registry.ts");
mark("modules imported (runtime, registry)");
const config = benchWorkerConfig("mem", id);
const parts = await openParts(config);
mark("bus, database, sessions open");
const { loadTriage } = await import("../src/ml/index.ts");
const enc = await loadTriage({ modelsDir: config.models.dir, embedText: config.models.embedText, embedder: { workers: config.models.encoderWorkers, threads: config.models.encoderThreads ?? undefined } });
mark("encoder + heads loaded (loadTriage)");
await enc.close();
Bun.gc(true);
mark("... released again");
const workers = await openWorkers(parts);
mark("workers (triage + knowledge + past-tickets)");
const service = await startService(parts, workers.agents, { afterConsumersStopped: () => workers.close() });
mark("service started (master consuming)");

// The drain: N realistic messages preloaded on the worker's topic, processed by the real master and workers while
// memory is sampled; the figures at the moment of the peak RSS say whether it was the JS heap or native memory.
const realistic = realisticTraffic(DATA);
let published = 0;
const publish = parts.bus.publish.bind(parts.bus);
parts.bus.publish = (topic, records) => {
  if (topic === config.topics.responses) published += records.length;
  return publish(topic, records);
};
for (let i = 0; i < N; i += 500) {
  const batch = Array.from({ length: Math.min(500, N - i) }, (_, j) => {
    const m = realistic(i + j);
    const msg = { id: Bun.randomUUIDv7(), source: "chat", user: m.user, message: { text: m.message.text, attachments: [] }, metadata: { received_at: new Date().toISOString(), conversation_id: m.conversation } };
    return { key: m.conversation, value: JSON.stringify(msg), headers: { "message-id": msg.id } };
  });
  await parts.bus.publish(config.topics.messages, batch);
}
let atPeak = { rss: 0, heap: 0, external: 0 };
let maxHeap = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  const heap = heapStats().heapSize;
  maxHeap = Math.max(maxHeap, heap);
  if (m.rss > atPeak.rss) atPeak = { rss: m.rss, heap, external: m.external };
}, 100);
const gcHint = process.env.BENCH_GC_HINT_MS ? setInterval(() => Bun.gc(false), Number(process.env.BENCH_GC_HINT_MS)) : null;
await waitUntil(() => published >= N, 900_000, 50);
clearInterval(sampler);
if (gcHint) clearInterval(gcHint);
console.log(`drain of ${N}: sampled peak rss ${mb(atPeak.rss)} MB with js heap ${mb(atPeak.heap)} MB, external ${mb(atPeak.external)} MB at that moment; largest js heap ${mb(maxHeap)} MB`);
mark(`after a drain of ${N} realistic messages`);
const drain = { peak_rss_mb: mb(atPeak.rss), heap_at_peak_mb: mb(atPeak.heap), external_at_peak_mb: mb(atPeak.external), max_heap_mb: mb(maxHeap) };

await service.stop();
const peak = mb(peakRss());
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
console.log(JSON.stringify({ rss_mb: peak, steps, drain, n: N, load_average: Number(loadavg()[0]!.toFixed(2)) }));
process.exit(0);
