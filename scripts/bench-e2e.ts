/**
 * bench:e2e — what a deployment runs: real Kafka → a `ROLE=worker` process with the product's default workers and
 * models (triage, knowledge) → PostgreSQL/Redis → response-events → a `ROLE=drafter` process (the default extractive
 * composer in phases 1 and 2, a model in phase 3) re-publishing the drafted result.
 *
 *   Phase 1 (backlog drain): N realistic messages (Banking77 train texts with greetings, sign-offs, PII and varied
 *     lengths) are put on the topic before the worker starts; msgs/s from the worker being ready to the last result.
 *   Phase 2 (fixed rate): RATE msg/s for SECONDS through the ingest path (HTTP POST /api/messages of an API process);
 *     latency = the moment the request is sent → the result event's record timestamp on response-events.
 *   Phase 3: phase 2 again with the drafting stage running a model (Ollama when OLLAMA_HOST is set, else the embedded
 *     GGUF; the shipped default drafts with the extractive composer): drafts/min, queue wait, triage p99 while drafting.
 * Peak RSS (VmHWM) and CPU seconds of each process come from /proc (CPU ms per message does not depend on how busy the
 * machine is, unlike the wall-clock figures); the time share per stage from the worker's /metrics
 * (copilot_worker_duration_seconds). Needs KAFKA_BROKERS, DATABASE_URL, REDIS_URL (`eval "$(scripts/services.sh env)"`).
 *
 *   bun run bench:e2e [--n 5000] [--rate 50] [--seconds 60] [--skip-drafting] [--prof DIR]
 *
 * Last line: {"drain_msgs_per_s":…,"p50_ms":…,"p99_ms":…,"p99_ms_with_drafting":…,"drafts_per_min":…,"rss_mb":…,
 *   "worker_cpu_ms_per_msg":…,"drafter_cpu_ms_per_msg":…,"drafter_rss_mb":…} (rss_mb: the worker's peak)
 */
import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { type Subprocess, spawn } from "bun";
import { Kafka, logLevel } from "kafkajs";
import { numArg, pct, waitUntil } from "./lib/bench.ts";
import { realisticTraffic } from "./lib/traffic.ts";

const N = numArg("n", 5000);
const RATE = numArg("rate", 50);
const SECONDS = numArg("seconds", 60);
const SKIP_DRAFTING = process.argv.includes("--skip-drafting");
/** `--prof DIR`: the worker runs under Bun's sampling profiler and writes a .cpuprofile (and .md) there on exit. */
const PROF_DIR = (() => {
  const i = process.argv.indexOf("--prof");
  return i >= 0 ? process.argv[i + 1] : undefined;
})();
const DATA = process.env.BANKING77_TRAIN ?? join(import.meta.dir, "../../shared/data/banking77/train.csv") /* ../shared beside the checkout */;

for (const v of ["KAFKA_BROKERS", "DATABASE_URL", "REDIS_URL"]) {
  if (!process.env[v]) {
    console.error(`bench:e2e needs the real services (${v} is unset): scripts/services.sh up && eval "$(scripts/services.sh env)"`);
    process.exit(2);
  }
}

const id = Math.random().toString(36).slice(2, 8);
const topics = { messages: `e2e-cm-${id}`, responses: `e2e-re-${id}`, dlq: `e2e-dlq-${id}`, stream: `e2e-rs-${id}` };
const API_KEY = `e2e-bench-key-${id}-0123456789`;

// ---------------------------------------------------------------------------------------------------------------
// Realistic traffic: the Banking77 train texts wrapped the way customers write, with PII and varied lengths.

const realistic = realisticTraffic(DATA);

// ---------------------------------------------------------------------------------------------------------------
// Processes under test.

interface Proc {
  p: Subprocess;
  port: number;
  peakRssMb(): number;
  cpuSeconds(): number;
  /** CPU seconds per thread name (/proc/PID/task/TID/stat): the event loop's thread is the process's own name. */
  threadCpu(): Record<string, number>;
}

// Only the services this bench measures: no IMAP/SMTP/social channels from the caller's environment.
const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(IMAP|SMTP|X|SOCIAL_WEBHOOK|ALERT_WEBHOOK)/.test(k)));
type Role = "worker" | "api" | "drafter";
const baseEnv = (role: Role, port: number, extra: Record<string, string>) => ({
  ...inherited,
  APP_ENV: "development",
  LOG_LEVEL: "warn",
  ROLE: role,
  HOST: "127.0.0.1",
  PORT: String(port),
  API_KEYS: API_KEY,
  KAFKA_GROUP_ID: `e2e-${id}`,
  KAFKA_PARTITIONS: "4",
  TOPIC_CUSTOMER_MESSAGES: topics.messages,
  TOPIC_RESPONSE_EVENTS: topics.responses,
  TOPIC_DLQ: topics.dlq,
  TOPIC_REPLY_STREAM: topics.stream,
  RAG_DATA_DIR: join(tmpdir(), `e2e-index-${id}`),
  ...extra,
});

function proc(p: Subprocess, port: number): Proc {
  const status = () => {
    try {
      return readFileSync(`/proc/${p.pid}/status`, "utf8");
    } catch {
      return "";
    }
  };
  let peak = 0;
  const timer = setInterval(() => {
    const m = /VmHWM:\s+(\d+) kB/.exec(status());
    if (m) peak = Math.max(peak, Number(m[1]) / 1024);
  }, 500);
  p.exited.then(() => clearInterval(timer));
  return {
    p,
    port,
    peakRssMb: () => {
      const m = /VmHWM:\s+(\d+) kB/.exec(status());
      return Math.round(Math.max(peak, m ? Number(m[1]) / 1024 : 0));
    },
    cpuSeconds: () => {
      try {
        const f = readFileSync(`/proc/${p.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
        return (Number(f[11]) + Number(f[12])) / 100;
      } catch {
        return Number.NaN;
      }
    },
    threadCpu: () => {
      const out: Record<string, number> = {};
      try {
        for (const t of readdirSync(`/proc/${p.pid}/task`)) {
          const stat = readFileSync(`/proc/${p.pid}/task/${t}/stat`, "utf8");
          const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
          const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
          // The main thread carries the process id; onnxruntime's pool threads inherit the name "bun" too.
          const key = t === String(p.pid) ? "main (event loop)" : name;
          out[key] = (out[key] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
        }
      } catch {
        /* the process exited */
      }
      return out;
    },
  };
}

/** Per-thread CPU spent between two `threadCpu()` readings, as "main 12.3 s, bun 4.1 s, …" (threads that ended are missed). */
function threadDelta(before: Record<string, number>, after: Record<string, number>, n: number): { text: string; perMsg: Record<string, number> } {
  const perMsg: Record<string, number> = {};
  const parts: string[] = [];
  for (const [k, v] of Object.entries(after).sort((a, b) => b[1] - (before[b[0]] ?? 0) - (a[1] - (before[a[0]] ?? 0)))) {
    const d = v - (before[k] ?? 0);
    if (d < 0.05) continue;
    perMsg[k] = Number(((d * 1000) / Math.max(1, n)).toFixed(2));
    parts.push(`${k} ${d.toFixed(1)} s (${perMsg[k]} ms/msg)`);
  }
  return { text: parts.join(", "), perMsg };
}

async function start(role: Role, port: number, extra: Record<string, string> = {}): Promise<Proc> {
  const prof = PROF_DIR && role !== "api" ? ["--cpu-prof", `--cpu-prof-dir=${PROF_DIR}`, "--cpu-prof-md"] : [];
  const p = spawn(["bun", ...prof, "src/main.ts"], { cwd: join(import.meta.dir, ".."), env: baseEnv(role, port, extra), stdout: "inherit", stderr: "inherit" });
  const end = Date.now() + 120_000;
  for (;;) {
    if (p.exitCode !== null) throw new Error(`${role} exited with ${p.exitCode} while starting`);
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok).catch(() => false);
    if (ok) return proc(p, port);
    if (Date.now() > end) throw new Error(`${role} not ready after 120 s`);
    await Bun.sleep(250);
  }
}

async function stop(x: Proc): Promise<void> {
  x.p.kill("SIGTERM");
  await Promise.race([x.p.exited, Bun.sleep(30_000).then(() => x.p.kill("SIGKILL"))]);
}

/**
 * Seconds each worker spent, from the worker's own histogram (sum of copilot_worker_duration_seconds by worker).
 * Workers run concurrently (MASTER_CONCURRENCY messages at a time), so these are summed wall times: read them as
 * shares of the stage time, not as CPU seconds.
 */
async function stageSeconds(port: number): Promise<Record<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => "");
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^copilot_worker_duration_seconds_sum\{([^}]*)\} ([0-9.e+-]+)$/gm)) {
    const name = /(?:worker|agent)="([^"]+)"/.exec(m[1]!)?.[1] ?? m[1]!;
    out[name] = (out[name] ?? 0) + Number(m[2]);
  }
  return out;
}

/** Each worker's share of the summed worker time, as "name 41 %, …". */
function shares(stages: Record<string, number>): string {
  const total = Object.values(stages).reduce((a, b) => a + b, 0) || 1;
  return Object.entries(stages)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${((v / total) * 100).toFixed(0)} %`)
    .join(", ");
}

// ---------------------------------------------------------------------------------------------------------------
// Observer of response-events: first time each message's result (revision 0) and draft (revision ≥ 1) is seen.

const kafka = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(","), clientId: `e2e-obs-${id}`, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 4 })), waitForLeaders: true });
await admin.disconnect();

const resultAt = new Map<string, number>();
const draftAt = new Map<string, { at: number; genMs: number | null; mode: string; gaveUp: boolean }>();
const observer = kafka.consumer({ groupId: `e2e-obs-${id}`, maxWaitTimeInMs: 20 });
await observer.connect();
await observer.subscribe({ topic: topics.responses, fromBeginning: true });
await observer.run({
  eachBatch: async ({ batch }) => {
    for (const m of batch.messages) {
      // The record's own timestamp (set when the worker published it), not when this observer got to it: an observer
      // that lags behind must not stretch or squeeze the figures.
      const now = Number(m.timestamp);
      let ev: { type?: string; message_id?: string; revision?: number; outputs?: { reply?: { mode?: string; fallback_reason?: string | null; timings?: { generation_ms?: number | null } } } };
      try {
        ev = JSON.parse(m.value?.toString() ?? "");
      } catch {
        continue;
      }
      if (ev.type !== "message.result" || !ev.message_id) continue;
      if (!ev.revision) {
        if (!resultAt.has(ev.message_id)) resultAt.set(ev.message_id, now);
      } else if (!draftAt.has(ev.message_id)) {
        const r = ev.outputs?.reply;
        draftAt.set(ev.message_id, { at: now, genMs: r?.timings?.generation_ms ?? null, mode: r?.mode ?? "?", gaveUp: /exceeded|gave up|timed out/i.test(r?.fallback_reason ?? "") });
      }
    }
  },
});

const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`machine: ${cpus().length} cores, ${cpus()[0]?.model ?? "?"}; bun ${Bun.version}; load average ${load()}`);

// ---------------------------------------------------------------------------------------------------------------
// Phase 1: backlog drain (no LLM: the drafting stage answers extractively, as with LLM_GENERATOR=none).

const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
console.log(`phase 1: ${N} realistic messages preloaded on ${topics.messages} (4 partitions); a worker drains them`);
const preload: string[] = [];
for (let i = 0; i < N; i += 1000) {
  const batch = Array.from({ length: Math.min(1000, N - i) }, (_, j) => {
    const m = realistic(i + j);
    const msg = { id: Bun.randomUUIDv7(), source: "chat", user: m.user, message: { text: m.message.text, attachments: [] }, metadata: { received_at: new Date().toISOString(), conversation_id: m.conversation } };
    preload.push(msg.id);
    return { key: m.conversation, value: JSON.stringify(msg), headers: { "message-id": msg.id } };
  });
  await producer.send({ topic: topics.messages, messages: batch });
}
await producer.disconnect();

const PORT_W = 39_000 + Math.floor(Math.random() * 500);
const PORT_A = PORT_W + 1;
// The drafter first (no models to load): it drafts each result as it is published, with the default extractive composer.
let drafter = await start("drafter", PORT_W + 2, { LLM_GENERATOR: "none" });
const t0 = Date.now();
const worker = await start("worker", PORT_W, { LLM_GENERATOR: "none" });
const readyS = (Date.now() - t0) / 1000;
const cpu0 = worker.cpuSeconds();
const threads0 = worker.threadCpu();
const dcpu0 = drafter.cpuSeconds();
await waitUntil(() => preload.every((m) => resultAt.has(m)), 600_000);
const times = preload.map((m) => resultAt.get(m)).filter((x): x is number => x !== undefined);
const last = Math.max(...times);
// From the moment the worker was ready (models loaded) to the last result's record timestamp. Results come in bursts
// (a Kafka batch is persisted and published together), so first→last would overstate the rate.
const drainS = (last - (t0 + readyS * 1000)) / 1000;
const drainRate = times.length / Math.max(0.001, drainS);
const drainCpu = worker.cpuSeconds() - cpu0;
const drainThreads = threadDelta(threads0, worker.threadCpu(), times.length);
const drainDrafterCpu = drafter.cpuSeconds() - dcpu0;
const workerCpuMs = (drainCpu * 1000) / Math.max(1, times.length);
const drafterCpuMs = (drainDrafterCpu * 1000) / Math.max(1, times.length);
const stages1 = await stageSeconds(PORT_W);
console.log(`  worker ready in ${readyS.toFixed(1)} s; ${times.length}/${N} results ${drainS.toFixed(1)} s after it was ready → ${drainRate.toFixed(0)} msg/s`);
console.log(`  worker CPU ${drainCpu.toFixed(1)} s over ${drainS.toFixed(1)} s (${((drainCpu / drainS) * 100).toFixed(0)} % of one core); share of stage time: ${shares(stages1)}`);
console.log(`  worker CPU by thread: ${drainThreads.text}`);
console.log(`  CPU per message: worker ${workerCpuMs.toFixed(1)} ms, drafter ${drafterCpuMs.toFixed(1)} ms (drafter CPU ${drainDrafterCpu.toFixed(1)} s; drafts may trail the last result)`);
console.log(`  worker peak RSS ${worker.peakRssMb()} MB, drafter ${drafter.peakRssMb()} MB; load average ${load()}`);

// ---------------------------------------------------------------------------------------------------------------
// Phase 2 / 3: paced ingest through an API process (HTTP), results consumed from response-events.

async function paced(label: string, apiPort: number): Promise<{ p50: number; p99: number; delivered: number; sent: number; ids: string[] }> {
  const total = RATE * SECONDS;
  console.log(`${label}: ${total} messages at ${RATE} msg/s through POST /api/messages`);
  const sent: { id: string; at: number }[] = [];
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const m = realistic(N + i);
    const at = Date.now();
    inflight.push(
      fetch(`http://127.0.0.1:${apiPort}/api/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify({ user: m.user, message: m.message, metadata: { conversation_id: m.conversation } }),
      })
        .then(async (r) => {
          if (r.status !== 202) return;
          const body = (await r.json()) as { id: string };
          sent.push({ id: body.id, at });
        })
        .catch(() => {}),
    );
  }
  await Promise.all(inflight);
  await waitUntil(() => sent.every((s) => resultAt.has(s.id)), 60_000);
  const lat = sent.filter((s) => resultAt.has(s.id)).map((s) => resultAt.get(s.id)! - s.at);
  const out = { p50: pct(lat, 50), p99: pct(lat, 99), delivered: lat.length, sent: total, ids: sent.map((s) => s.id) };
  console.log(`  delivered ${out.delivered}/${total}; ingest→result p50 ${out.p50} ms, p99 ${out.p99} ms; load average ${load()}`);
  return out;
}

const api = await start("api", PORT_A);
await Bun.sleep(2000);
const cpu2 = worker.cpuSeconds();
const s2Before = await stageSeconds(PORT_W);
const phase2 = await paced("phase 2", PORT_A);
const cpuPhase2 = worker.cpuSeconds() - cpu2;
const s2After = await stageSeconds(PORT_W);
console.log(`  worker CPU ${cpuPhase2.toFixed(1)} s over ${SECONDS} s; share of stage time: ${shares(Object.fromEntries(Object.entries(s2After).map(([k, v]) => [k, v - (s2Before[k] ?? 0)])))}`);
const rssMb = worker.peakRssMb();
let drafterRssMb = drafter.peakRssMb();

let phase3: Awaited<ReturnType<typeof paced>> | null = null;
let draftsPerMin: number | null = null;
let queueWait: { p50: number; p95: number } | null = null;
let gaveUp = 0;
if (!SKIP_DRAFTING) {
  // The drafter again, on a model: Ollama when OLLAMA_HOST is set, else the embedded GGUF (phases 1 and 2 run the
  // product's default, the extractive composer, which needs no model). It resumes the drafting group's offsets.
  await stop(drafter);
  drafter = await start("drafter", PORT_W + 3, { LLM_GENERATOR: process.env.OLLAMA_HOST ? "ollama" : "embedded" });
  await Bun.sleep(2000);
  const before = new Set(draftAt.keys());
  const t3 = Date.now();
  phase3 = await paced("phase 3 (drafting on)", PORT_A);
  const elapsedMin = (Date.now() - t3) / 60_000;
  const drafted = phase3.ids.filter((m) => draftAt.has(m) && !before.has(m));
  draftsPerMin = Number((drafted.length / elapsedMin).toFixed(1));
  // Queue wait: result event → draft event, less the generation itself.
  const waits = drafted.map((m) => draftAt.get(m)!.at - resultAt.get(m)! - (draftAt.get(m)!.genMs ?? 0)).filter((x) => Number.isFinite(x));
  queueWait = { p50: pct(waits, 50), p95: pct(waits, 95) };
  gaveUp = drafted.filter((m) => draftAt.get(m)!.gaveUp).length;
  const modes: Record<string, number> = {};
  for (const m of drafted) modes[draftAt.get(m)!.mode] = (modes[draftAt.get(m)!.mode] ?? 0) + 1;
  console.log(`  drafts during the phase: ${drafted.length} (${draftsPerMin}/min), modes ${JSON.stringify(modes)}, gave up ${gaveUp}; queue wait p50 ${queueWait.p50} ms, p95 ${queueWait.p95} ms`);
  drafterRssMb = Math.max(drafterRssMb, drafter.peakRssMb());
  console.log(`  drafter (on a model) peak RSS ${drafter.peakRssMb()} MB; worker peak RSS ${worker.peakRssMb()} MB`);
}
await stop(drafter);
await stop(worker);
await stop(api);
await observer.disconnect();

console.log(
  JSON.stringify({
    drain_msgs_per_s: Math.round(drainRate),
    p50_ms: phase2.p50,
    p99_ms: phase2.p99,
    p99_ms_with_drafting: phase3?.p99 ?? null,
    drafts_per_min: draftsPerMin,
    draft_queue_wait_p50_ms: queueWait?.p50 ?? null,
    drafts_gave_up: phase3 ? gaveUp : null,
    rss_mb: Math.max(rssMb, worker.peakRssMb()),
    worker_cpu_ms_per_msg: Number(workerCpuMs.toFixed(1)),
    worker_cpu_ms_per_msg_by_thread: drainThreads.perMsg,
    drafter_cpu_ms_per_msg: Number(drafterCpuMs.toFixed(1)),
    drafter_rss_mb: drafterRssMb,
    load_average: loadavg()[0]!.toFixed(2),
    n: N,
    rate: RATE,
    seconds: SECONDS,
    lost: N - times.length + (phase2.sent - phase2.delivered) + (phase3 ? phase3.sent - phase3.delivered : 0),
  }),
);
process.exit(0);
