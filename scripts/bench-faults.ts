/**
 * bench:faults — fault injection against real services. It starts ITS OWN PostgreSQL, Redis and Kafka (scripts/
 * services.sh on the ports below, never the shared ones), a stand-in generator speaking the Ollama protocol, two
 * worker processes (`ROLE=worker bun src/main.ts`, one consumer group) and one API process, then for each case
 * pushes a steady stream of chat messages through `POST /api/messages` while it:
 *   kafka      SIGKILLs the broker and starts it again;
 *   postgres   restarts PostgreSQL;
 *   redis      restarts Redis;
 *   generator  stops the generator (the reply drafter's LLM server) and starts it again;
 *   worker     SIGKILLs one of the two workers (the other takes its partitions over).
 * A client that gets no 202 (timeout, 503) retries the same message id, as a real integration would.
 * Per case: sent (distinct ids), accepted (202 at least once), persisted (result rows), lost (accepted, never
 * persisted), duplicated (a result event, same message id, revision and decision, dispatched more than once by a
 * ResultHub, the consumer behind chat sockets, dashboards and the reply service; bus_duplicates counts the repeats
 * on the topic itself, which is at least once), recovery_s: from the service's return (for the worker case: the
 * kill) until the first message held up by the fault is persisted (processing resumed; for the generator case, the
 * first model-written draft after it), and drain_s: until every message first sent before the return is persisted
 * (the outage's backlog is cleared, which on a busy machine is bound by spare capacity, not by the fault).
 * Last line: {"lost":…,"duplicated":…,"max_recovery_s":…,"cases":{…}}.
 *
 *   bun run bench:faults [--rate 20] [--seconds 100] [--fault-at 30] [--cases kafka,postgres,redis,generator,worker]
 */
import { Kafka, logLevel } from "kafkajs";
import { mkdirSync, openSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import type { ResultEvent } from "../src/agents/types.ts";
import { KafkaBus } from "../src/bus/kafka.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/obs/log.ts";
import { eventIdentity, ResultHub } from "../src/realtime/hub.ts";

const ROOT = join(import.meta.dir, "..");
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};

// ---------------------------------------------------------------------------------------------------------------
// Sub-mode: the stand-in generator (Ollama's /api/version, /api/tags and streaming /api/chat), a separate process
// so the bench can stop it like a crashed model server.
if (process.argv.includes("--generator")) {
  const port = Number(arg("generator", "0"));
  const enc = new TextEncoder();
  Bun.serve({
    hostname: "127.0.0.1",
    port,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/api/version") return Response.json({ version: "0.6.4" });
      if (url.pathname === "/api/tags") return Response.json({ models: [{ name: "bench:latest", model: "bench:latest", modified_at: new Date().toISOString(), size: 1, digest: "sha256:0", details: {} }] });
      if (req.method !== "POST" || url.pathname !== "/api/chat") return Response.json({ error: "not found" }, { status: 404 });
      const body = (await req.json()) as { model: string };
      const tokens = ["Thanks", " for", " reaching", " out", ".", " We", " are", " on", " it", "."];
      const stream = new ReadableStream<Uint8Array>({
        start(ctrl) {
          for (const t of tokens) ctrl.enqueue(enc.encode(JSON.stringify({ model: body.model, created_at: new Date().toISOString(), message: { role: "assistant", content: t }, done: false }) + "\n"));
          ctrl.enqueue(enc.encode(JSON.stringify({ model: body.model, created_at: new Date().toISOString(), message: { role: "assistant", content: "" }, done: true, done_reason: "stop", prompt_eval_count: 10, eval_count: tokens.length }) + "\n"));
          ctrl.close();
        },
      });
      return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
    },
  });
  await new Promise(() => {});
}

// ---------------------------------------------------------------------------------------------------------------
const RATE = Number(arg("rate", "20"));
const SECONDS = Number(arg("seconds", "100"));
const FAULT_AT_S = Number(arg("fault-at", "30"));
const CASES = arg("cases", "kafka,postgres,redis,generator,worker").split(",");
const SLOW_MS = 5000;

// Our own instances, away from the shared services on the default ports.
const SVC_ENV = {
  SERVICES_PG_PORT: "55532",
  SERVICES_REDIS_PORT: "56479",
  SERVICES_KAFKA_PORT: "59192",
  SERVICES_KAFKA_CONTROLLER_PORT: "59193",
  SERVICES_KAFKA_SSL_PORT: "59194",
  SERVICES_IMAP_PORT: "50243",
  // A JVM restart on a busy machine can take minutes.
  SERVICES_START_TIMEOUT: "240",
};
const GEN_PORT = 51534;
const API_PORT = 3190;
const WORKER_PORTS = [3191, 3192];
const API_KEY = "bench-faults-key-0123456789abcdef";
const id = Math.random().toString(36).slice(2, 8);
const logDir = `/tmp/bench-faults-${id}`;
mkdirSync(logDir, { recursive: true });
const t0 = Date.now();
const say = (s: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}`);

async function services(...args: string[]): Promise<void> {
  const p = Bun.spawn(["bash", join(ROOT, "scripts/services.sh"), ...args], { env: { ...process.env, ...SVC_ENV }, stdout: "pipe", stderr: "pipe" });
  const code = await p.exited;
  if (code !== 0) throw new Error(`services.sh ${args.join(" ")} failed: ${await new Response(p.stderr).text()}`);
}

const appEnv: Record<string, string> = {
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "/root",
  APP_ENV: "development",
  LOG_LEVEL: "warn",
  HOST: "127.0.0.1",
  KAFKA_BROKERS: `127.0.0.1:${SVC_ENV.SERVICES_KAFKA_PORT}`,
  KAFKA_PARTITIONS: "6",
  KAFKA_GROUP_ID: `bench-faults-${id}`,
  KAFKA_CLIENT_ID: `bench-faults-${id}`,
  TOPIC_CUSTOMER_MESSAGES: `bf-cm-${id}`,
  TOPIC_RESPONSE_EVENTS: `bf-re-${id}`,
  TOPIC_REPLY_STREAM: `bf-rs-${id}`,
  DATABASE_URL: `postgres://copilot:copilot@127.0.0.1:${SVC_ENV.SERVICES_PG_PORT}/copilot`,
  REDIS_URL: `redis://127.0.0.1:${SVC_ENV.SERVICES_REDIS_PORT}`,
  API_KEYS: API_KEY,
  LLM_GENERATOR: "ollama",
  OLLAMA_HOST: `http://127.0.0.1:${GEN_PORT}`,
  OLLAMA_MODEL: "bench",
  OLLAMA_CONNECT_TIMEOUT_MS: "1000",
  OLLAMA_RETRIES: "0",
  // On a shared 2-core machine a triage call can take seconds; the default 5 s timeout would turn load into
  // retries (more load), which is not the fault under test.
  WORKER_TIMEOUT_MS: "30000",
  // No knowledge base to ingest at start: retrieval abstains and the drafter asks a clarifying question, which
  // still goes through the generator; it saves minutes of embedding on a busy machine.
  RAG_KB_DIR: "none",
};

type Proc = ReturnType<typeof Bun.spawn>;
function spawnApp(name: string, env: Record<string, string>): Proc {
  const out = openSync(join(logDir, `${name}.log`), "a");
  return Bun.spawn([process.execPath, join(ROOT, "src/main.ts")], { cwd: ROOT, env: { ...appEnv, ...env }, stdout: out, stderr: out });
}
function spawnGenerator(): Proc {
  const out = openSync(join(logDir, "generator.log"), "a");
  return Bun.spawn([process.execPath, join(ROOT, "scripts/bench-faults.ts"), "--generator", String(GEN_PORT)], { cwd: ROOT, stdout: out, stderr: out });
}
async function ready(port: number, path = "/ready", ms = 400_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {}
    await Bun.sleep(250);
  }
  throw new Error(`127.0.0.1:${port}${path} not ready (logs: ${logDir})`);
}

say(`starting our own pg/redis/kafka (${Object.values(SVC_ENV).slice(0, 3).join(", ")}); logs in ${logDir}`);
await services("up", "pg", "redis", "kafka");
let generator = spawnGenerator();
const workers: (Proc | null)[] = WORKER_PORTS.map((p, i) => spawnApp(`worker-${i}`, { ROLE: "worker", PORT: String(p), RAG_DATA_DIR: join(logDir, `rag-${i}`) }));
const api = spawnApp("api", { ROLE: "api", PORT: String(API_PORT) });
const children = () => [api, ...workers, generator].filter((p): p is Proc => !!p);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    for (const p of children()) p.kill("SIGKILL");
    process.exit(130);
  });
}
try {
  await Promise.all([ready(GEN_PORT, "/api/version", 30_000), ready(API_PORT), ...WORKER_PORTS.map((p) => ready(p))]);
} catch (e) {
  for (const p of children()) p.kill("SIGKILL");
  throw e;
}
say("api and two workers ready");

// Every result event on response-events, by message id and revision (the observer is not part of the product).
const kafka = new Kafka({ brokers: [appEnv.KAFKA_BROKERS!], clientId: `bench-faults-obs-${id}`, logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 300 } });
const eventsSeen = new Map<string, number>();
const firstGenerated: { at: number; id: string }[] = [];
const drafts = new Map<string, { fallback: boolean; at: number }>();
const observer = kafka.consumer({ groupId: `bench-faults-obs-${id}`, maxWaitTimeInMs: 100, sessionTimeout: 60_000 });
await observer.connect();
await observer.subscribe({ topic: appEnv.TOPIC_RESPONSE_EVENTS!, fromBeginning: true });
await observer.run({
  eachMessage: async ({ message }) => {
    let ev: { type?: string; message_id?: string; revision?: number; outputs?: { reply?: { fallback_reason?: string | null; review?: unknown } } };
    try {
      ev = JSON.parse(message.value!.toString());
    } catch {
      return;
    }
    if (ev.type !== "message.result" || !ev.message_id) return;
    const key = `${ev.message_id}:${ev.revision ?? 0}:${ev.outputs?.reply?.review ? "decision" : ""}`;
    eventsSeen.set(key, (eventsSeen.get(key) ?? 0) + 1);
    const reply = ev.outputs?.reply;
    if (reply && !drafts.has(ev.message_id)) {
      drafts.set(ev.message_id, { fallback: !!reply.fallback_reason, at: Date.now() });
      if (!reply.fallback_reason) firstGenerated.push({ at: Date.now(), id: ev.message_id });
    }
  },
});

// What the product's consumers of response-events get: a ResultHub (chat sockets, dashboards, the reply service).
const hubConfig = loadConfig({ ...appEnv, KAFKA_CLIENT_ID: `bench-faults-hub-${id}`, LOG_LEVEL: "silent" });
const hubBus = new KafkaBus(hubConfig.kafka!, createLogger("silent"));
await hubBus.start([hubConfig.topics.responses]);
const hub = new ResultHub(hubBus, hubConfig.topics.responses, `bench-faults-hub-${id}`, createLogger("silent"));
await hub.start();
const dispatched = new Map<string, number>();
hub.onAny((ev) => {
  const k = eventIdentity(ev);
  if (k) dispatched.set(k, (dispatched.get(k) ?? 0) + 1);
});

const sql = postgres(appEnv.DATABASE_URL!, { max: 2, onnotice: () => {}, connect_timeout: 5 });
/** Persist times (ms) of the given ids, by reading the result rows; retried while PostgreSQL is restarting. */
async function persistedAt(ids: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    for (let attempt = 0; ; attempt++) {
      try {
        const rows = await sql<{ id: string; at: Date }[]>`select message_id::text as id, created_at as at from results where message_id = any(${chunk}::uuid[])`;
        for (const r of rows) out.set(r.id, r.at.getTime());
        break;
      } catch (e) {
        if (attempt > 60) throw e;
        await Bun.sleep(1000);
      }
    }
  }
  return out;
}

interface Msg {
  id: string;
  firstAt: number;
  acceptedAt: number | null;
  attempts: number;
}

/** Sends RATE msg/s for SECONDS; a message without a 202 is retried (same id) every 2 s for up to 90 s. */
async function stream(tag: string, msgs: Msg[], onTick: (s: number) => Promise<void>): Promise<void> {
  const n = Math.round(RATE * SECONDS);
  const start = Date.now();
  const inflight = new Set<Promise<void>>();
  let tick = 0;
  const send = async (m: Msg, text: string) => {
    const until = m.firstAt + 90_000;
    while (Date.now() < until) {
      m.attempts++;
      try {
        const r = await fetch(`http://127.0.0.1:${API_PORT}/api/messages`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
          body: JSON.stringify({ id: m.id, source: "chat", user: { id: `bench-${tag}-${m.id.slice(-4)}` }, message: { text } }),
          signal: AbortSignal.timeout(15_000),
        });
        await r.body?.cancel().catch(() => {});
        if (r.status === 202) {
          m.acceptedAt ??= Date.now();
          return;
        }
        if (r.status < 500) return;
      } catch {}
      await Bun.sleep(2000);
    }
  };
  const texts = ["My card was declined at the shop", "Where is my refund for order 1234?", "I cannot log in to my account", "Please cancel my subscription", "How do I change my delivery address?"];
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 0) await Bun.sleep(wait);
    const s = Math.floor((Date.now() - start) / 1000);
    while (tick <= s) await onTick(tick++);
    const m: Msg = { id: crypto.randomUUID(), firstAt: Date.now(), acceptedAt: null, attempts: 0 };
    msgs.push(m);
    const p = send(m, `${texts[i % texts.length]} (${tag} #${i})`).finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
}

interface CaseResult {
  sent: number;
  accepted: number;
  persisted: number;
  lost: number;
  duplicated: number;
  recovery_s: number;
  retried: number;
  [k: string]: number | string;
}

/** Runs one case: the stream, the fault at FAULT_AT_S, the restore, then waits until the accepted messages are in. */
async function runCase(name: string, inject: () => Promise<void>, restore: () => Promise<void>): Promise<CaseResult> {
  say(`case ${name}: ${Math.round(RATE * SECONDS)} messages at ${RATE} msg/s`);
  const msgs: Msg[] = [];
  let restoredAt = 0;
  let faultAt = 0;
  let faulting: Promise<void> | null = null;
  await stream(name, msgs, async (s) => {
    if (s === FAULT_AT_S) {
      faultAt = Date.now();
      faulting = (async () => {
        await inject();
        say(`case ${name}: fault injected`);
        await restore();
        restoredAt = Date.now();
        say(`case ${name}: service back after ${((restoredAt - faultAt) / 1000).toFixed(1)} s`);
      })();
    }
  });
  await faulting;
  // Wait for the pipeline to catch up: every accepted message persisted, or 180 s.
  const accepted = msgs.filter((m) => m.acceptedAt !== null);
  let at = new Map<string, number>();
  const end = Date.now() + 180_000;
  while (Date.now() < end) {
    at = await persistedAt(msgs.map((m) => m.id));
    const drafted = name !== "generator" || [...at.keys()].every((k) => drafts.has(k));
    if (accepted.every((m) => at.has(m.id)) && drafted) break;
    await Bun.sleep(1000);
  }
  const ids = new Set(msgs.map((m) => m.id));
  let busDuplicates = 0;
  for (const [k, c] of eventsSeen) if (c > 1 && ids.has(k.slice(0, 36))) busDuplicates += c - 1;
  let duplicated = 0;
  for (const [k, c] of dispatched) if (c > 1 && ids.has(k.slice(2, 38))) duplicated += c - 1;
  // "Delayed by the fault": slower than 5 s and than twice the p99 of the messages sent before the fault (the
  // machine may be busy enough that normal latency is seconds).
  const base = msgs.filter((m) => at.has(m.id) && at.get(m.id)! < faultAt).map((m) => at.get(m.id)! - m.firstAt).sort((a, b) => a - b);
  const p = (q: number) => (base.length ? base[Math.min(base.length - 1, Math.floor(q * base.length))]! : 0);
  const slow = Math.max(SLOW_MS, 2 * p(0.99));
  const delayed = msgs.filter((m) => at.has(m.id) && at.get(m.id)! - m.firstAt > slow).map((m) => at.get(m.id)!);
  // Caught up: every message first sent before the service returned is persisted.
  const before = msgs.filter((m) => m.firstAt < restoredAt && at.has(m.id)).map((m) => at.get(m.id)!);
  const caughtUp = before.length ? Math.max(...before) : restoredAt;
  // Resumed: the first message held up by the fault is persisted after the service returned (for the worker case:
  // the survivor has taken the dead worker's partitions over).
  const held = delayed.filter((t) => t >= restoredAt);
  const resumed = held.length ? Math.min(...held) : null;
  const res: CaseResult = {
    sent: msgs.length,
    accepted: accepted.length,
    persisted: msgs.filter((m) => at.has(m.id)).length,
    lost: accepted.filter((m) => !at.has(m.id)).length,
    duplicated,
    recovery_s: Math.round(Math.max(0, (resumed ?? restoredAt) - restoredAt) / 100) / 10,
    drain_s: Math.round(Math.max(0, caughtUp - restoredAt) / 100) / 10,
    bus_duplicates: busDuplicates,
    retried: msgs.filter((m) => m.attempts > 1).length,
    never_accepted: msgs.length - accepted.length,
    never_accepted_persisted: msgs.filter((m) => m.acceptedAt === null && at.has(m.id)).length,
    delayed: delayed.length,
    baseline_p50_s: Math.round(p(0.5) / 100) / 10,
    baseline_p99_s: Math.round(p(0.99) / 100) / 10,
    outage_s: Math.round((restoredAt - faultAt) / 100) / 10,
  };
  if (name === "generator") {
    const after = firstGenerated.filter((g) => g.at > restoredAt && ids.has(g.id)).sort((a, b) => a.at - b.at)[0];
    const mine = msgs.map((m) => drafts.get(m.id)).filter((d) => !!d);
    res.drafted = mine.length;
    res.drafts_missing = [...at.keys()].filter((k) => !drafts.has(k)).length;
    res.fallback_drafts = mine.filter((d) => d!.fallback).length;
    res.recovery_s = after ? Math.round((after.at - restoredAt) / 100) / 10 : -1;
  }
  say(`case ${name}: ${JSON.stringify(res)}`);
  return res;
}

const cases: Record<string, CaseResult> = {};
const faults: Record<string, [() => Promise<void>, () => Promise<void>]> = {
  kafka: [() => services("kill", "kafka"), async () => (await Bun.sleep(3000), await services("up", "kafka"))],
  postgres: [() => services("down", "pg"), async () => (await Bun.sleep(3000), await services("up", "pg"))],
  redis: [() => services("down", "redis"), async () => (await Bun.sleep(3000), await services("up", "redis"))],
  generator: [
    async () => {
      generator.kill("SIGKILL");
      await generator.exited;
    },
    async () => {
      await Bun.sleep(10_000);
      generator = spawnGenerator();
      await ready(GEN_PORT, "/api/version", 30_000);
    },
  ],
  worker: [
    async () => {
      workers[1]!.kill("SIGKILL");
      await workers[1]!.exited;
      workers[1] = null;
    },
    async () => {},
  ],
};
try {
  for (const c of CASES) {
    const f = faults[c];
    if (!f) throw new Error(`unknown case ${c}`);
    cases[c] = await runCase(c, f[0], f[1]);
    // Let every stage settle before the next fault.
    await Bun.sleep(3000);
  }
} finally {
  await observer.disconnect().catch(() => {});
  await hub.stop().catch(() => {});
  await hubBus.stop().catch(() => {});
  await sql.end({ timeout: 2 }).catch(() => {});
  for (const p of [api, ...workers, generator]) p?.kill("SIGTERM");
  await Promise.all([api, ...workers, generator].map((p) => p?.exited));
}
const all = Object.values(cases);
const load = loadavg().map((x) => Math.round(x * 100) / 100);
say(`load average ${load.join(" ")} (2 cores, shared with other work); logs in ${logDir}`);
console.log(
  JSON.stringify({
    lost: all.reduce((a, c) => a + c.lost, 0),
    duplicated: all.reduce((a, c) => a + c.duplicated, 0),
    max_recovery_s: Math.max(...all.map((c) => c.recovery_s)),
    max_drain_s: Math.max(...all.map((c) => Number(c.drain_s ?? 0))),
    load_avg: load,
    cases,
  }),
);
process.exit(0);
