/**
 * bench:abuse — the product under abuse. Starts the product in a child process on 127.0.0.1 (embedded parts, the
 * runtime's full HTTP/WebSocket wiring and default limits) behind a simulated trusted proxy (TRUSTED_PROXIES=127.0.0.1,
 * X-Forwarded-For names the client). The workers are stand-ins costing a fixed 2 ms of CPU each (4 per message), so the
 * baseline stays stable on a shared machine; `--real-models` runs `src/main.ts` with the real local models instead.
 * Then two phases of the same length:
 *   baseline: a legitimate integration posts 10 msg/s (POST /api/messages, its own API key and address) and times
 *             each message from the POST to its result on the conversation's chat socket;
 *   flood:    the same legitimate load, while one address floods the widget from 1,000 visitor ids (socket
 *             connects, messages on every socket it gets, /widget/history) and guesses the admin's password with
 *             parallel sign-ins.
 * The attacker and the legitimate client each run in their own process on the same machine; the attacker's 16 loops
 * are closed loops, so it offers as many requests as the product answers. Both load generators run at nice 10 (the
 * product at 0) in both phases, standing for clients on other machines: on one 2-core host a closed-loop attacker
 * otherwise takes the cores the product needs (`--load-nice 0` measures that way; docs/benchmarks.md compares both).
 * Diagnostics per phase: the product's event-loop delay and CPU second by second (its /metrics), its event-loop
 * thread's own CPU, POST → 202 separately from POST → result, and when the slowest messages were sent. Reports the flood rate offered and
 * answered, the product's CPU per flood request (process_cpu_seconds_total), the share of flood requests refused, the
 * password checks the server actually ran (copilot_signin_password_checks_total), and the legitimate p99 in both
 * phases. Default limits throughout.
 * Last line: {"flood_refused":…,"login_checks":…,"legit_p99_ms":…,"legit_p99_ms_baseline":…,"legit_p50_ms":…,
 * "legit_p50_ms_baseline":…,"product_loop_delay_max_ms":…,"product_loop_delay_max_ms_baseline":…,"flood_rps":…,
 * "product_cpu_us_per_flood_request":…,"load_nice":…,"load_avg":[…]}
 * Options: --seconds N (per phase, default 20), --flood-concurrency N (default 16), --services (pass DATABASE_URL and
 * REDIS_URL from the environment: PostgreSQL instead of in-process PGlite, limits shared through Redis),
 * --guesses N (sign-in guesses, default 200; 0 isolates the flood's own cost), --profile (instead of the two phases:
 * the product's CPU per refusal by kind — history, socket connect, socket frame, sign-in — with budgets that do not
 * refill during the run; BENCH_CPU_PROF=<dir> also writes the product's CPU profile there), --flood-rate N (an
 * open-loop flood of N requests/s — history posts and socket connects — instead of the closed loops: the same offered
 * load whatever the product's speed, to compare versions; a closed loop speeds up with a faster product),
 * --load-nice N (nice value of both load generators, default 10; 0 = the product's priority). Environment:
 * RATE_LIMIT_*, DASHBOARD_PASSWORD_CHECK_NICE and BUN_JSC_* are passed to the product (compare settings; GC log).
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Gauge } from "prom-client";
import type { Agent } from "../src/agents/types.ts";
import { loadConfig } from "../src/config.ts";
import { ok } from "../src/errors.ts";
import { openParts, startService } from "../src/runtime.ts";

const { values: args } = parseArgs({
  options: { legit: { type: "string" }, "phase-seconds": { type: "string", default: "20" }, "load-nice": { type: "string", default: "10" }, seconds: { type: "string", default: "20" }, "flood-concurrency": { type: "string", default: "16" }, "real-models": { type: "boolean", default: false }, serve: { type: "boolean", default: false }, attack: { type: "string" }, services: { type: "boolean", default: false }, guesses: { type: "string", default: "200" }, profile: { type: "boolean", default: false }, "flood-rate": { type: "string", default: "0" } },
});

/** A stand-in worker: a fixed CPU cost (what a small local model costs per message) and a plausible output. */
const standIn = (name: string, output: Record<string, unknown>): Agent => ({
  name,
  async run() {
    const end = performance.now() + 2;
    while (performance.now() < end);
    return ok(output);
  },
});

if (args.serve) {
  // Child mode: the product with stand-in workers, wired by runtime.ts exactly as src/main.ts does.
  const config = loadConfig();
  const parts = await openParts(config);
  // The event-loop thread's own CPU (Linux /proc, 10 ms ticks), apart from the pool threads where argon2id runs: how
  // much work the loop did, whatever the machine's load did to when it could do it.
  new Gauge({
    name: "bench_main_thread_cpu_seconds",
    help: "CPU time of the product's event-loop thread",
    registers: [parts.metrics.registry],
    collect() {
      const stat = readFileSync("/proc/thread-self/stat", "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      this.set((Number(f[11]) + Number(f[12])) / 100);
    },
  });
  const service = await startService(parts, [
    standIn("intent", { label: "card_declined", confidence: 0.9, top: [{ label: "card_declined", score: 0.9 }] }),
    standIn("sentiment", { label: "neutral", score: 0.8, urgency: { level: "low", reasons: [] } }),
    standIn("entities", { entities: [] }),
    standIn("knowledge", { passages: [], abstained: true }),
  ]);
  service.app!.listen({ hostname: config.http.host, port: config.http.port });
  process.on("SIGTERM", () => void service.stop().finally(() => process.exit(0)));
  await new Promise(() => {});
}

const SECONDS = Number(args.seconds);
const FLOOD_CONCURRENCY = Number(args["flood-concurrency"]);
/** Requests/s of an open-loop flood (0: the closed loops of --flood-concurrency). */
const FLOOD_RATE = Number(args["flood-rate"]);
const LEGIT_RATE = 10;
const VISITORS = 1000;
const GUESSES = Number(args.guesses);
// Fresh addresses and account per run: with --services the budgets live in Redis and outlast a run.
const FLOOD_IP = args.attack ? process.env.BENCH_FLOOD_IP! : `203.0.113.${1 + Math.floor(Math.random() * 254)}`;
const LEGIT_IP = args.legit ? process.env.BENCH_LEGIT_IP! : `198.51.100.${1 + Math.floor(Math.random() * 254)}`;
const KEY = args.legit ? process.env.BENCH_KEY! : `bench-legit-${crypto.randomUUID()}`;
/** Nice value of the load generators (legitimate client and attacker) relative to the product; 0 = same priority. */
const LOAD_NICE = Number(args["load-nice"]);
const ADMIN = { email: args.attack ? process.env.BENCH_ADMIN! : `admin-${crypto.randomUUID().slice(0, 8)}@bench.example`, password: `correct horse ${crypto.randomUUID()}` };

/** A port nobody listens on right now (the OS picks it). */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = probe.port;
  probe.stop(true);
  return p;
}
const port = args.attack || args.legit ? Number(new URL((args.attack ?? args.legit)!).port) : freePort();
const base = `http://127.0.0.1:${port}`;
const randomSecret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
const wsBase = base.replace("http", "ws");
const env: Record<string, string> = {
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "/tmp",
  APP_ENV: "development",
  HOST: "127.0.0.1",
  PORT: String(port),
  LOG_LEVEL: "error",
  LLM_GENERATOR: "none",
  TRUSTED_PROXIES: "127.0.0.1,::1",
  API_KEYS: `legit:ingest:${KEY}`,
  DASHBOARD_ADMIN_EMAIL: ADMIN.email,
  DASHBOARD_ADMIN_PASSWORD: ADMIN.password,
};
// Passed through so a run can compare where sign-in checks run (0: Bun's pool at the product's priority).
if (process.env.DASHBOARD_PASSWORD_CHECK_NICE) env.DASHBOARD_PASSWORD_CHECK_NICE = process.env.DASHBOARD_PASSWORD_CHECK_NICE;
// And any limit, to compare settings (RATE_LIMIT_<NAME>=<count>/<window>).
// And JavaScriptCore's options (BUN_JSC_logGC=1 prints every collection of the product with its duration).
for (const [k, v] of Object.entries(process.env)) if ((k.startsWith("RATE_LIMIT_") || k.startsWith("BUN_JSC_")) && v) env[k] = v;
if (args.profile) {
  // Budgets that do not refill during the profile, so every measured request is a refusal (the refusal path is the
  // same whatever the window).
  for (const name of ["HISTORY_IP", "CHAT_CONNECT_IP", "CHAT_MESSAGE_IP", "SIGNIN_IP"]) env[`RATE_LIMIT_${name}`] = name === "SIGNIN_IP" ? "20/1h" : "30/1h";
}
if (args.services) {
  if (!process.env.DATABASE_URL || !process.env.REDIS_URL) throw new Error("--services needs DATABASE_URL and REDIS_URL");
  env.DATABASE_URL = process.env.DATABASE_URL;
  env.REDIS_URL = process.env.REDIS_URL;
}
/** Opens a chat socket as `ip`; resolves null when the upgrade is refused. */
function openChat(visitor: string, ip: string, onFrame: (f: Record<string, unknown>) => void): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${wsBase}/api/chat/ws?visitor=${visitor}`, { headers: { "x-forwarded-for": ip } } as unknown as string[]);
    let opened = false;
    ws.onopen = () => {
      opened = true;
      resolve(ws);
    };
    ws.onmessage = (m) => onFrame(JSON.parse(String(m.data)));
    ws.onerror = () => !opened && resolve(null);
    ws.onclose = () => !opened && resolve(null);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

/** What the legitimate client measured in one phase. */
type Legit = {
  /** POST → result on the socket, ms. */
  latencies: number[];
  /** POST → 202, ms. */
  posts: number[];
  /** [seconds into the phase when sent, POST → result ms] of every message, to place the slow ones in time. */
  timeline: [number, number][];
  lost: number;
  refused: number;
  /** The client process's own event-loop delay p99 (ms): a slow client inflates what it measures. */
  clientLagP99Ms: number;
};

/** The legitimate integration: 10 msg/s for the phase, each timed to its result on the conversation's socket. */
async function legitimate(seconds: number): Promise<Legit> {
  const pending = new Map<string, number>();
  const latencies: number[] = [];
  const posts: number[] = [];
  const timeline: [number, number][] = [];
  let t0 = performance.now();
  const ws = await openChat(randomSecret(), LEGIT_IP, (f) => {
    if (f.type !== "result") return;
    const sent = pending.get(f.message_id as string);
    if (sent === undefined) return;
    pending.delete(f.message_id as string);
    const ms = performance.now() - sent;
    latencies.push(ms);
    timeline.push([Number(((sent - t0) / 1000).toFixed(2)), Math.round(ms)]);
  });
  if (!ws) throw new Error("the legitimate client's socket was refused");
  const ready = await new Promise<string>((resolve) => {
    const prev = ws.onmessage;
    ws.onmessage = (m) => {
      const f = JSON.parse(String(m.data));
      if (f.type === "ready") resolve(f.conversation_id);
      prev?.call(ws, m);
    };
  });
  let refused = 0;
  const sends: Promise<void>[] = [];
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  t0 = performance.now();
  for (let i = 0; i < seconds * LEGIT_RATE; i++) {
    const due = t0 + (i * 1000) / LEGIT_RATE;
    const wait = due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    sends.push(
      (async () => {
        const start = performance.now();
        const id = crypto.randomUUID();
        pending.set(id, start);
        const r = await fetch(`${base}/api/messages`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, "x-forwarded-for": LEGIT_IP },
          body: JSON.stringify({ id, source: "chat", user: { id: "legit-customer" }, message: { text: `Hello, my card payment was declined at the shop, message ${i}` }, metadata: { conversation_id: ready } }),
        });
        posts.push(performance.now() - start);
        if (r.status !== 202) {
          pending.delete(id);
          refused++;
        }
        await r.arrayBuffer();
      })(),
    );
  }
  await Promise.all(sends);
  const end = performance.now() + 15_000;
  while (pending.size && performance.now() < end) await Bun.sleep(50);
  ws.close();
  lag.disable();
  return { latencies, posts, timeline, lost: pending.size, refused, clientLagP99Ms: Number((lag.percentile(99) / 1e6).toFixed(1)) };
}

/** The flood from one address: 1,000 visitor ids on sockets and history, until `stop`. */
/**
 * The open-loop flood: `FLOOD_RATE` requests a second whether or not the product keeps up (three history posts to one
 * socket connect), at most 1,024 outstanding; what the attacker could not send on time is reported as offered but
 * unsent (not in the refused share).
 */
async function openFlood(stop: () => boolean) {
  const visitors = Array.from({ length: VISITORS }, randomSecret);
  const c = { requests: 0, refused: 0, accepted: 0, unsent: 0 };
  let outstanding = 0;
  let n = 0;
  const one = async (i: number) => {
    outstanding++;
    c.requests++;
    try {
      if (i % 4 === 3) {
        const ws = await openChat(visitors[i % VISITORS]!, FLOOD_IP, () => {});
        if (ws) {
          c.accepted++;
          ws.close();
        } else c.refused++;
        return;
      }
      const r = await fetch(`${base}/widget/history`, { method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": FLOOD_IP }, body: JSON.stringify({ visitor: visitors[i % VISITORS] }) }).catch(() => null);
      if (!r || r.status === 429) c.refused++;
      else c.accepted++;
      await r?.arrayBuffer();
    } finally {
      outstanding--;
    }
  };
  const t0 = performance.now();
  while (!stop()) {
    const due = Math.floor(((performance.now() - t0) / 1000) * FLOOD_RATE);
    for (; n < due; n++) {
      if (outstanding >= 1024) c.unsent++;
      else void one(n);
    }
    await Bun.sleep(1);
  }
  const end = performance.now() + 10_000;
  while (outstanding > 0 && performance.now() < end) await Bun.sleep(10);
  return c;
}

async function flood(stop: () => boolean) {
  const visitors = Array.from({ length: VISITORS }, randomSecret);
  const c = { requests: 0, refused: 0, accepted: 0 };
  let next = 0;
  const socketWorker = async () => {
    while (!stop()) {
      const v = visitors[next++ % VISITORS]!;
      c.requests++;
      let acked = 0;
      const ws = await openChat(v, FLOOD_IP, (f) => {
        if (f.type === "ack") acked++;
      });
      if (!ws) {
        c.refused++;
        continue;
      }
      // Send as fast as the socket takes it, for up to 2 s, then move on to another visitor id.
      const sent: string[] = [];
      const until = performance.now() + 2000;
      while (ws.readyState === WebSocket.OPEN && performance.now() < until && !stop()) {
        const id = `f${sent.length}`;
        sent.push(id);
        ws.send(JSON.stringify({ type: "message", text: "spam spam spam, refund now", client_id: id }));
        await Bun.sleep(5);
      }
      await Bun.sleep(200);
      ws.close();
      c.requests += sent.length;
      c.accepted += acked;
      // Every message not acknowledged was refused: by an error frame, or dropped when the socket was closed (1008).
      c.refused += sent.length - acked;
    }
  };
  const historyWorker = async () => {
    while (!stop()) {
      c.requests++;
      const r = await fetch(`${base}/widget/history`, { method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": FLOOD_IP }, body: JSON.stringify({ visitor: visitors[next++ % VISITORS] }) }).catch(() => null);
      if (!r || r.status === 429) c.refused++;
      else c.accepted++;
      await r?.arrayBuffer();
    }
  };
  const half = Math.max(1, Math.floor(FLOOD_CONCURRENCY / 2));
  await Promise.all([...Array.from({ length: half }, socketWorker), ...Array.from({ length: FLOOD_CONCURRENCY - half }, historyWorker)]);
  return c;
}

/** Parallel password guesses against the admin account from the flooding address. */
async function guessPasswords(): Promise<{ statuses: Record<number, number>; checkedUntilS: number }> {
  const statuses: Record<number, number> = {};
  const t0 = performance.now();
  // When the last guess that reached the password check was answered: the argon2id work is over by then.
  let checkedUntilS = 0;
  const one = async (i: number) => {
    const page = await fetch(`${base}/dashboard/login`, { headers: { "x-forwarded-for": FLOOD_IP } });
    const cookie = page.headers.getSetCookie().find((c) => c.includes("copilot_csrf="))!.split(";")[0]!;
    const token = (await page.text()).match(/name="_csrf" value="([^"]+)"/)![1]!;
    const r = await fetch(`${base}/dashboard/login`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": FLOOD_IP },
      body: new URLSearchParams({ _csrf: token, email: ADMIN.email, password: `guess-${i}-${crypto.randomUUID()}` }),
    });
    await r.arrayBuffer();
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    if (r.status !== 429) checkedUntilS = (performance.now() - t0) / 1000;
  };
  for (let i = 0; i < GUESSES; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => one(i + j)));
  return { statuses, checkedUntilS };
}

/** One scrape of the product's /metrics: CPU so far, password checks so far, and its event-loop delay since the last scrape. */
async function productStats(): Promise<{ cpuUs: number; mainUs: number; checks: number; lag: { p50: number; p99: number; max: number } }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const num = (name: string) => Number(text.match(new RegExp(`^${name} ([\\d.e+-]+)`, "m"))?.[1] ?? NaN);
  const ms = (name: string) => Number((num(name) * 1000).toFixed(1));
  return {
    cpuUs: num("process_cpu_seconds_total") * 1e6,
    mainUs: num("bench_main_thread_cpu_seconds") * 1e6,
    checks: num("copilot_signin_password_checks_total") || 0,
    // prom-client resets its delay histogram at every scrape, so these cover the time since the previous one.
    lag: { p50: ms("nodejs_eventloop_lag_p50_seconds"), p99: ms("nodejs_eventloop_lag_p99_seconds"), max: ms("nodejs_eventloop_lag_max_seconds") },
  };
}

/** One second of a phase, from the product's /metrics. */
type Second = { lagMaxMs: number; lagP99Ms: number; cpuPct: number; mainMs: number };

/** The product's event-loop delay and CPU, second by second, while `phase` runs (one /metrics scrape a second). */
async function sampled<T>(phase: Promise<T>): Promise<{ result: T; seconds: Second[] }> {
  const seconds: Second[] = [];
  let done = false;
  const result = phase.finally(() => {
    done = true;
  });
  let prev = await productStats();
  let t = performance.now();
  while (!done) {
    await Promise.race([Bun.sleep(1000), result]);
    const now = await productStats();
    const wall = performance.now() - t;
    seconds.push({ lagMaxMs: now.lag.max, lagP99Ms: now.lag.p99, cpuPct: Math.round(((now.cpuUs - prev.cpuUs) / wall / 10) * 10) / 10, mainMs: (now.mainUs - prev.mainUs) / 1000 });
    prev = now;
    t = performance.now();
  }
  return { result: await result, seconds };
}

/** Phase summary of `sampled`: the worst second's delay max, the median second's p99, and the per-second max series. */
function loopSummary(seconds: Second[]) {
  return {
    max: Math.max(...seconds.map((x) => x.lagMaxMs)),
    p99Median: pct(seconds.map((x) => x.lagP99Ms), 50),
    series: seconds.map((x) => Math.round(x.lagMaxMs)).join(" "),
    cpuSeries: seconds.map((x) => Math.round(x.cpuPct)).join(" "),
    mainSeries: seconds.map((x) => Math.round(x.mainMs)).join(" "),
  };
}

/** A load generator process (this script in `--legit` or `--attack` mode), at the load generators' nice value. */
function spawnLoad(mode: string[], env: Record<string, string>) {
  const cmd = ["bun", new URL(import.meta.url).pathname, ...mode, "--seconds", String(SECONDS), "--flood-concurrency", String(FLOOD_CONCURRENCY), "--flood-rate", String(FLOOD_RATE), "--guesses", String(GUESSES)];
  return Bun.spawn(LOAD_NICE > 0 ? ["nice", "-n", String(LOAD_NICE), ...cmd] : cmd, { stdout: "pipe", stderr: "inherit", env: { ...process.env, ...env } });
}

/** One phase of the legitimate client in its own process; `seconds` overrides the phase length (warm-up). */
async function legitPhase(seconds = SECONDS): Promise<Legit> {
  const child = spawnLoad(["--legit", base, "--phase-seconds", String(seconds)], { BENCH_LEGIT_IP: LEGIT_IP, BENCH_KEY: KEY });
  const out = (await new Response(child.stdout).text()).trim().split("\n").pop()!;
  if ((await child.exited) !== 0) throw new Error("the legitimate client failed");
  return JSON.parse(out) as Legit;
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

/** Both phases against a running product; prints the figures and the JSON line. */
async function run(startupS: number) {
  console.log(`product ready on ${base} in ${startupS.toFixed(1)} s (${args.services ? "PostgreSQL + Redis, in-process bus" : "embedded parts"}, ${args["real-models"] ? "real local models, extractive replies" : "stand-in workers of 2 ms CPU each"})`);
  console.log(`load average before: ${load()} (2 cores, shared with other work)`);
  console.log(
    LOAD_NICE > 0
      ? `load generators (legitimate client and attacker, each its own process) run at nice ${LOAD_NICE}, the product at nice 0, in both phases: on this one machine they stand for clients on other machines, so a core goes to the product first`
      : "load generators (legitimate client and attacker, each its own process) run at the product's priority and compete with it for the same cores",
  );
  // Warm-up: first queries, JIT.
  await legitPhase(2);
  const s0 = await productStats();
  const tBase0 = performance.now();
  const { result: baseline, seconds: baseSeconds } = await sampled(legitPhase());
  const s1 = await productStats();
  const cpuBase = (s1.cpuUs - s0.cpuUs) / (performance.now() - tBase0);
  const baseLoop = loopSummary(baseSeconds);
  const phaseLine = (name: string, l: Legit, loop: ReturnType<typeof loopSummary>) =>
    `${name}: ${l.latencies.length} results, p50 ${pct(l.latencies, 50).toFixed(0)} ms, p99 ${pct(l.latencies, 99).toFixed(0)} ms (POST → 202 p50 ${pct(l.posts, 50).toFixed(0)} ms, p99 ${pct(l.posts, 99).toFixed(0)} ms), lost ${l.lost}, refused ${l.refused}; client event-loop delay p99 ${l.clientLagP99Ms} ms; load ${load()}\n  product event-loop delay: worst second's max ${loop.max} ms, median second's p99 ${loop.p99Median} ms; max per second [ms] ${loop.series}; product CPU per second [% of a core, all threads] ${loop.cpuSeries}; event-loop thread CPU per second [ms] ${loop.mainSeries}`;
  console.log(phaseLine("baseline", baseline, baseLoop));

  // The attacker and the legitimate client each run in their own process, so neither delays the other's event loop.
  const attacker = spawnLoad(["--attack", base], { BENCH_FLOOD_IP: FLOOD_IP, BENCH_ADMIN: ADMIN.email });
  const tFlood0 = performance.now();
  const { result: underFlood, seconds: floodSeconds } = await sampled(legitPhase());
  const floodLoop = loopSummary(floodSeconds);
  const out = (await new Response(attacker.stdout).text()).trim().split("\n").pop()!;
  await attacker.exited;
  const { f, g } = JSON.parse(out) as { f: { requests: number; refused: number; accepted: number; unsent?: number }; g: { statuses: Record<number, number>; checkedUntilS: number } };
  const s2 = await productStats();
  const checks = s2.checks;
  const floodWallMs = performance.now() - tFlood0;
  const cpuFlood = (s2.cpuUs - s1.cpuUs) / floodWallMs;
  // The product's CPU beyond what the legitimate load cost in the baseline phase, per flood request.
  const usPerFloodRequest = ((cpuFlood - cpuBase) * floodWallMs) / Math.max(1, f.requests);
  console.log(`flood: ${f.requests} requests from one address over ${VISITORS} visitor ids, ${f.refused} refused, ${f.accepted} accepted`);
  console.log(
    `flood rate: ${((f.requests + (f.unsent ?? 0)) / SECONDS).toFixed(0)} requests/s offered, ${(f.requests / SECONDS).toFixed(0)}/s sent, ${((f.refused + f.accepted) / SECONDS).toFixed(0)}/s answered (refused or accepted; in the closed loop the rest are frames on sockets closed under them) — the attacker is its own process on the same cores (its CPU is the attacker's, not the product's), ${FLOOD_RATE > 0 ? `open loop at ${FLOOD_RATE}/s (${f.unsent ?? 0} could not be sent on time: 1,024 outstanding)` : `${FLOOD_CONCURRENCY} closed loops each sending its next request as soon as the previous one is answered`}`,
  );
  console.log(
    `product CPU: ${(cpuBase / 10).toFixed(1)} % of a core in the baseline phase, ${(cpuFlood / 10).toFixed(1)} % under flood → ${usPerFloodRequest.toFixed(0)} µs per flood request (all in: the flood's accepted messages and the sign-in password checks included)`,
  );
  console.log(`sign-in guesses: ${GUESSES} in parallel batches of 50 → statuses ${JSON.stringify(g.statuses)}; password checks run: ${checks}, the last answered ${g.checkedUntilS.toFixed(1)} s into the flood`);
  console.log(phaseLine("under flood", underFlood, floodLoop));
  // Where the tail sits in time: the slowest messages of each phase, [s into the phase when sent, ms].
  const slowest = (l: Legit) => JSON.stringify([...l.timeline].sort((a, b) => b[1] - a[1]).slice(0, 6));
  console.log(`slowest legitimate messages [s into the phase, ms]: baseline ${slowest(baseline)}; under flood ${slowest(underFlood)}`);
  console.log(
    JSON.stringify({
      flood_refused: Number((f.refused / Math.max(1, f.requests)).toFixed(4)),
      login_checks: checks,
      legit_p99_ms: Math.round(pct(underFlood.latencies, 99)),
      legit_p99_ms_baseline: Math.round(pct(baseline.latencies, 99)),
      legit_p50_ms: Math.round(pct(underFlood.latencies, 50)),
      legit_p50_ms_baseline: Math.round(pct(baseline.latencies, 50)),
      product_loop_delay_max_ms: floodLoop.max,
      product_loop_delay_max_ms_baseline: baseLoop.max,
      flood_rps: Math.round(f.requests / SECONDS),
      product_cpu_us_per_flood_request: Math.round(usPerFloodRequest),
      load_nice: LOAD_NICE,
      load_avg: loadavg().map((x) => Number(x.toFixed(2))),
    }),
  );
}

/** The product's own CPU time so far (process_cpu_seconds_total from /metrics), in microseconds. */
async function serverCpuUs(): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(text.match(/^process_cpu_seconds_total ([\d.e+-]+)/m)?.[1] ?? NaN) * 1e6;
}

/** Runs `n` calls of `one` from `concurrency` loops; resolves when all are done. */
async function loops(n: number, concurrency: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await one(next++);
  }));
}

/**
 * --profile: the product's CPU per refusal, by kind. Each kind first spends its budget from a fresh address, then
 * sends refused requests; the product's CPU over that stretch (minus its idle CPU over the same time) divided by the
 * refusals is the cost of one. CPU time, not latency: it barely depends on what else runs on the machine.
 */
async function profile() {
  // Startup work (JIT, first queries) settles first; then the idle CPU is what timers and pollers cost.
  await Bun.sleep(5000);
  const idle0 = await serverCpuUs();
  const idleT0 = performance.now();
  await Bun.sleep(3000);
  const idleRate = ((await serverCpuUs()) - idle0) / (performance.now() - idleT0);
  const rows: Record<string, { n: number; refused: number; us: number }> = {};
  const measure = async (kind: string, run: () => Promise<{ n: number; refused: number }>) => {
    const c0 = await serverCpuUs();
    const t0 = performance.now();
    const r = await run();
    const wall = performance.now() - t0;
    const us = ((await serverCpuUs()) - c0 - idleRate * wall) / Math.max(1, r.refused);
    rows[kind] = { ...r, us: Math.round(us) };
    console.log(`${kind}: ${r.refused} of ${r.n} refused, ${us.toFixed(0)} µs of product CPU per refusal (${((r.n / wall) * 1000).toFixed(0)}/s)`);
  };
  const ip = () => `198.18.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  const visitor = randomSecret();

  // POST /widget/history over the per-address budget.
  const hIp = ip();
  const history = async () => {
    const r = await fetch(`${base}/widget/history`, { method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": hIp }, body: JSON.stringify({ visitor }) });
    await r.arrayBuffer();
    return r.status === 429;
  };
  await loops(40, 4, async () => void (await history()));
  await measure("history_refused", async () => {
    let refused = 0;
    await loops(4000, 16, async () => void ((await history()) && refused++));
    return { n: 4000, refused };
  });

  // Chat socket connects over the per-address budget.
  const cIp = ip();
  const held: WebSocket[] = [];
  for (let i = 0; i < 35; i++) {
    const ws = await openChat(randomSecret(), cIp, () => {});
    if (ws) held.push(ws);
  }
  for (const ws of held) ws.close();
  await measure("ws_connect_refused", async () => {
    let refused = 0;
    await loops(1500, 16, async () => {
      const ws = await openChat(randomSecret(), cIp, () => {});
      if (ws) ws.close();
      else refused++;
    });
    return { n: 1500, refused };
  });

  // Chat frames over the per-address message budget: sockets sending 20 refused frames (the 20th closes the socket)
  // minus the same number of sockets sending none, so the connects themselves cancel out.
  const sockets = async (ips: string[], withFrames: boolean) => {
    let refused = 0;
    await Promise.all(
      ips.map(async (fip) => {
        const open = await Promise.all(Array.from({ length: 12 }, () => openChat(randomSecret(), fip, () => {})));
        await Promise.all(
          open.map(async (ws) => {
            if (!ws) return;
            if (!withFrames) return ws.close();
            let errors = 0;
            const done = new Promise<void>((resolve) => {
              ws.onmessage = (m) => {
                if (JSON.parse(String(m.data)).type === "error" && ++errors === 20) resolve();
              };
              ws.onclose = () => resolve();
            });
            for (let i = 0; i < 20; i++) ws.send(JSON.stringify({ type: "message", text: "spam spam spam, refund now", client_id: `p${i}` }));
            await Promise.race([done, Bun.sleep(5000)]);
            refused += errors;
            ws.close();
          }),
        );
      }),
    );
    return refused;
  };
  const bareIps = Array.from({ length: 8 }, ip);
  const frameIps = Array.from({ length: 8 }, ip);
  // Spend each address's message budget (30 accepted messages go through the pipeline), then let the pipeline settle.
  await Promise.all(
    frameIps.map(async (fip) => {
      const ws = await openChat(randomSecret(), fip, () => {});
      for (let i = 0; i < 34; i++) {
        ws?.send(JSON.stringify({ type: "message", text: "hello", client_id: `w${i}` }));
        await Bun.sleep(20);
      }
      ws?.close();
    }),
  );
  await Bun.sleep(4000);
  const cBare0 = await serverCpuUs();
  const tBare0 = performance.now();
  await sockets(bareIps, false);
  const bare = (await serverCpuUs()) - cBare0 - idleRate * (performance.now() - tBare0);
  await measure("ws_frame_refused", async () => {
    const refused = await sockets(frameIps, true);
    return { n: refused, refused };
  });
  rows.ws_frame_refused!.us = Math.round(rows.ws_frame_refused!.us - bare / Math.max(1, rows.ws_frame_refused!.refused));
  console.log(`  (after subtracting the sockets' own connect/close: ${rows.ws_frame_refused!.us} µs per refused frame)`);

  // Sign-in posts over the per-address budget (the first 20 run argon2id; those are not measured).
  const sIp = ip();
  const page = await fetch(`${base}/dashboard/login`, { headers: { "x-forwarded-for": sIp } });
  const cookie = page.headers.getSetCookie().find((c) => c.includes("copilot_csrf="))!.split(";")[0]!;
  const token = (await page.text()).match(/name="_csrf" value="([^"]+)"/)![1]!;
  const signin = async (i: number) => {
    const r = await fetch(`${base}/dashboard/login`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": sIp },
      body: new URLSearchParams({ _csrf: token, email: `nobody-${i}@bench.example`, password: "guess" }),
    });
    await r.arrayBuffer();
    return r.status === 429;
  };
  for (let i = 0; i < 22; i++) await signin(i);
  await measure("signin_refused", async () => {
    let refused = 0;
    await loops(2000, 16, async (i) => void ((await signin(i)) && refused++));
    return { n: 2000, refused };
  });
  console.log(`product idle CPU: ${idleRate.toFixed(0)} µs/ms; load average ${load()}`);
  console.log(JSON.stringify(Object.fromEntries(Object.entries(rows).map(([k, v]) => [`${k}_cpu_us`, v.us]))));
}

if (args.legit) {
  // Legitimate-client mode (child): one phase, then its measurements as one JSON line.
  console.log(JSON.stringify(await legitimate(Number(args["phase-seconds"]))));
  process.exit(0);
}

if (args.attack) {
  // Attacker mode (child): flood and guess for the phase's length, then print the counts as one JSON line.
  let stopping = false;
  const floodRun = FLOOD_RATE > 0 ? openFlood(() => stopping) : flood(() => stopping);
  const guesses = guessPasswords();
  await Bun.sleep(SECONDS * 1000);
  stopping = true;
  console.log(JSON.stringify({ f: await floodRun, g: await guesses }));
  process.exit(0);
}

// BENCH_CPU_PROF=<dir>: the product writes a CPU profile (markdown) there when it exits.
const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
const server = Bun.spawn(args["real-models"] ? ["bun", ...prof, "src/main.ts"] : ["bun", ...prof, "scripts/bench-abuse.ts", "--serve"], { cwd: new URL("..", import.meta.url).pathname, env, stdout: "inherit", stderr: "inherit" });
process.on("exit", () => server.kill("SIGTERM"));
try {
  const started = performance.now();
  for (;;) {
    if (performance.now() - started > 120_000) throw new Error("the product did not become ready within 120 s");
    if (server.exitCode !== null) throw new Error(`the product exited with ${server.exitCode}`);
    if (await fetch(`${base}/ready`).then((r) => r.ok).catch(() => false)) break;
    await Bun.sleep(500);
  }
  if (args.profile) await profile();
  else await run((performance.now() - started) / 1000);
} finally {
  server.kill("SIGTERM");
  await server.exited;
}
