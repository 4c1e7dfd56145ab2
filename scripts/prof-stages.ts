/**
 * prof-stages — where a worker's main-thread CPU goes, by pipeline stage, from a Bun `.cpuprofile`
 * (`bun run bench:e2e --prof DIR` writes one for the worker). Each sample is charged to the first stage found walking
 * up its stack from the leaf (so encoder time spent under the knowledge worker counts as "encoder"), which gives the
 * CPU ms per stage, and per message with `--msgs N`.
 *
 *   bun scripts/prof-stages.ts DIR/CPU.*.cpuprofile [--msgs 1000]
 *
 * Last line: one JSON object {stage: ms, ..., "total_ms": …}.
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const file = process.argv[2];
if (!file) {
  console.error("usage: bun scripts/prof-stages.ts PROFILE.cpuprofile [--msgs N]");
  process.exit(2);
}
const mi = process.argv.indexOf("--msgs");
const msgs = mi >= 0 ? Number(process.argv[mi + 1]) : 0;
const prof = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };

// Stage rules, checked per frame from the leaf upwards; the first frame that matches decides.
const RULES: [string, (url: string, fn: string) => boolean][] = [
  ["encoder (onnx bge-small)", (u) => u.includes("/src/ml/onnx-embedder.ts")],
  ["heads (onnx intent/sentiment/anger)", (u) => u.includes("/src/ml/head.ts")],
  ["triage rules + entities", (u) => u.includes("/src/ml/")],
  ["retrieval (query prep, hnsw, bm25)", (u) => u.includes("/src/rag/") || u.includes("/src/agents/knowledge/")],
  ["past-tickets consumer", (_u, f) => f === "approvedTicket" || f === "pastTicketsHandler"],
  ["supersede watcher", (u) => u.includes("/src/agents/response/supersede.ts") || u.includes("/src/bus/tail.ts")],
  ["drafting (composer, memory)", (u) => u.includes("/src/agents/response/") || u.includes("/src/llm/")],
  ["drafting stage (consume, store, outbox)", (u) => u.includes("/src/agents/drafting.ts") || u.includes("/src/outbox/")],
  ["logging (pino)", (u) => u.includes("pino")],
  ["postgres (drizzle, postgres.js)", (u) => u.includes("drizzle-orm") || u.includes("/postgres/") || u.includes("/src/db/")],
  ["redis (ioredis)", (u) => u.includes("ioredis") || u.includes("/src/session/")],
  ["tracing/metrics", (u) => u.includes("opentelemetry") || u.includes("prom-client") || u.includes("/src/obs/")],
  ["master (validate, combine, publish)", (u) => u.includes("/src/agents/master.ts") || u.includes("/src/schema/") || u.includes("/src/privacy/")],
  ["kafkajs", (u) => u.includes("kafkajs") || u.includes("/src/bus/")],
  ["http server", (u) => u.includes("elysia") || u.includes("/src/http/")],
  ["module loading / start-up", (_u, f) => f === "require" || f === "loadModel" || f === "(module)"],
];

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const memo = new Map<number, string>();
function stageOf(id: number): string {
  const hit = memo.get(id);
  if (hit) return hit;
  let stage = "other";
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const f = byId.get(cur)!.callFrame;
    const rule = RULES.find(([, m]) => m(f.url, f.functionName));
    if (rule) {
      stage = rule[0];
      break;
    }
  }
  memo.set(id, stage);
  return stage;
}
const ms: Record<string, number> = {};
let total = 0;
prof.samples.forEach((s, i) => {
  const f = byId.get(s)!.callFrame;
  if (f.functionName === "(idle)" || f.functionName === "(program)" || f.functionName === "(garbage collector)") {
    if (f.functionName !== "(garbage collector)") return;
  }
  const dt = (prof.timeDeltas[i] ?? 0) / 1000;
  const st = f.functionName === "(garbage collector)" ? "gc" : stageOf(s);
  ms[st] = (ms[st] ?? 0) + dt;
  total += dt;
});
for (const [k, v] of Object.entries(ms).sort((a, b) => b[1] - a[1])) {
  console.log(`${k.padEnd(42)} ${v.toFixed(0).padStart(8)} ms ${((v / total) * 100).toFixed(1).padStart(5)} %${msgs ? `  ${(v / msgs).toFixed(2)} ms/msg` : ""}`);
}
console.log(`${"total (main thread, sampled)".padEnd(42)} ${total.toFixed(0).padStart(8)} ms${msgs ? `          ${(total / msgs).toFixed(2)} ms/msg` : ""}`);
console.log(JSON.stringify({ ...Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Math.round(v)])), total_ms: Math.round(total) }));
