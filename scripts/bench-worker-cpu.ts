/**
 * bench:worker-cpu — CPU milliseconds per message of each in-process stage of the triage worker, measured one stage
 * at a time over the same realistic messages as bench:e2e (Banking77 with greetings, sign-offs, PII). CPU time
 * (process.cpuUsage: every thread, so the encoder's intra-op threads count) moves much less than wall time when the
 * machine is shared, so these figures compare across runs. What the e2e worker spends beyond their sum is the plumbing:
 * kafkajs, PostgreSQL, Redis, the result's JSON.
 *
 * Since issue 15 the triage heads embed the customer's cleaned words (src/ml/triage.ts embeddingText), the same text
 * a self-contained retrieval query searches, so retrieval re-embeds only the queries that differ (follow-ups with
 * context; none in this traffic, which has no history). The raw-text encoder row is the cost before that change.
 *
 *   bun run bench:worker-cpu [--n 600] [--window 128]
 *
 * Last line: one JSON object {stage: cpu_ms_per_msg, ...}.
 */
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadTriage } from "../src/ml/index.ts";
import { openKnowledge } from "../src/rag/index.ts";
import { embeddingText } from "../src/ml/triage.ts";
import { prepareQuery } from "../src/rag/query.ts";
import { contextualQuery } from "../src/rag/rewrite.ts";
import { numArg } from "./lib/bench.ts";
import { realisticTraffic } from "./lib/traffic.ts";

const N = numArg("n", 600);
const WINDOW = numArg("window", 128);
const ROOT = join(import.meta.dir, "..");
const DATA = process.env.BANKING77_TRAIN ?? join(ROOT, "../shared/data/banking77/train.csv");
const realistic = realisticTraffic(DATA);
// Distinct messages (offset past bench:e2e's first ones does not matter: no cache is shared between processes).
const msgs = Array.from({ length: N }, (_, i) => realistic(i).message.text);

const triage = await loadTriage({ modelsDir: join(ROOT, "models"), embedder: { cacheSize: 0 } });
const knowledge = await openKnowledge({ embedder: triage.embedder, dataDir: join(tmpdir(), "copilot-worker-cpu-index"), kbDir: join(ROOT, "kb"), waitForSync: true });
await knowledge.ready;
const enc = triage.embedder;

const out: Record<string, number> = {};
/** CPU ms per message of `fn`, printed with its wall time. */
async function cpu(name: string, fn: () => Promise<unknown> | unknown): Promise<void> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const c = process.cpuUsage(c0);
  const ms = (c.user + c.system) / 1000 / N;
  out[name] = Number(ms.toFixed(2));
  console.log(`${name.padEnd(52)} ${ms.toFixed(2).padStart(7)} ms CPU/msg   (wall ${((performance.now() - t0) / N).toFixed(2)} ms/msg)`);
}
const windows = <T>(xs: T[]) => Array.from({ length: Math.ceil(xs.length / WINDOW) }, (_, i) => xs.slice(i * WINDOW, (i + 1) * WINDOW));

await enc.encode(msgs.slice(0, 16)); // warm-up
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; ${N} messages`);
const queries = msgs.map((m) => prepareQuery(m));
const triageTexts = msgs.map((m) => embeddingText(m));
const searchQueries = queries.filter((q) => !q.empty).map((q) => contextualQuery(q.query, []).query);
const embeddedForTriage = new Set(triageTexts);
const extraQueries = searchQueries.filter((q) => !embeddedForTriage.has(q));
console.log(`triage encoder texts differing from the raw message: ${triageTexts.filter((t, i) => t !== msgs[i]).length}/${N}`);
console.log(`retrieval queries differing from the raw message: ${queries.filter((q, i) => !q.empty && q.query !== msgs[i]).length}/${N}; from the triage encoder text (a second embedding): ${extraQueries.length}/${N}`);

// The triage warm-up, the analysis and the knowledge worker each clean the message (the knowledge worker memoises).
await cpu("query cleaning (prepareQuery, 3 per message)", () => msgs.forEach((m) => (prepareQuery(m), prepareQuery(m), prepareQuery(m))));
await cpu(`encoder, raw message text (before issue 15), windows of ${WINDOW}`, async () => {
  for (const w of windows(msgs)) await enc.encode(w);
});
await cpu("encoder, triage text (cleaned words), one message per run", async () => {
  for (const m of triageTexts) await enc.encode([m]);
});
await cpu(`encoder, triage text (cleaned words), windows of ${WINDOW} sorted by length`, async () => {
  for (const w of windows(triageTexts)) await enc.encode(w);
});
await cpu(`encoder, retrieval query, windows of ${WINDOW} (before issue 15: all of them)`, async () => {
  for (const w of windows(searchQueries)) await enc.encode(w);
});
await cpu("encoder, retrieval queries not embedded for triage", async () => {
  for (const w of windows(extraQueries)) await enc.encode(w);
});
const vecs = (await Promise.all(windows(triageTexts).map((w) => enc.encode(w)))).flat();
await cpu("heads (intent + sentiment + anger), batches of 32", async () => {
  for (let i = 0; i < N; i += 32) await triage.model.classify(vecs.slice(i, i + 32), msgs.slice(i, i + 32));
});
const classified = (await Promise.all(Array.from({ length: Math.ceil(N / 32) }, (_, i) => triage.model.classify(vecs.slice(i * 32, i * 32 + 32), msgs.slice(i * 32, i * 32 + 32))))).flat();
const now = new Date().toISOString();
await cpu("entities (regex extractors, run twice per message)", () => msgs.forEach((m) => (triage.model.entities(m, now), triage.model.entities(m, now))));
await cpu("sentiment + urgency rules", () =>
  msgs.forEach((m, i) => {
    const c = classified[i]!;
    triage.model.sentiment({ id: `m${i}`, text: m, receivedAt: now, history: [] }, c.sentimentProbs, c.anger, c.intent, triage.model.entities(m, now), c.sentimentLabels, c.sentimentVersion);
  }),
);
// Searches with their query vectors already embedded (the new batch warm-up): HNSW + BM25 + fusion + answerability.
const cached = new Map(searchQueries.map((q, i) => [q, i]));
const qvecs = (await Promise.all(windows(searchQueries).map((w) => enc.encode(w)))).flat();
const realEmbed = enc.embed.bind(enc);
enc.embed = async (texts: string[], kind) => (texts.every((t) => cached.has(t)) ? texts.map((t) => qvecs[cached.get(t)!]!) : realEmbed(texts, kind));
await cpu("retrieval search without the encoder (hnsw, bm25, fusion)", async () => {
  for (const q of queries) if (!q.empty) await knowledge.search(q.query);
});
enc.embed = realEmbed;
const sample = { type: "message.result", message_id: "x", outputs: { intent: classified[0]!.intent, knowledge: await knowledge.search(searchQueries[0]!) }, text: msgs[0] };
await cpu("result event JSON.stringify + JSON.parse", () => msgs.forEach(() => JSON.parse(JSON.stringify(sample))));
console.log(`result event size ${JSON.stringify(sample).length} bytes`);
const sum = ["query cleaning (prepareQuery, 3 per message)", `encoder, triage text (cleaned words), windows of ${WINDOW} sorted by length`, "encoder, retrieval queries not embedded for triage", "heads (intent + sentiment + anger), batches of 32", "entities (regex extractors, run twice per message)", "sentiment + urgency rules", "retrieval search without the encoder (hnsw, bm25, fusion)"].reduce((a, k) => a + (out[k] ?? 0), 0);
console.log(`in-process stages with batching, summed: ${sum.toFixed(1)} ms CPU/msg`);
await knowledge.close();
await triage.close();
console.log(JSON.stringify({ ...out, in_process_sum: Number(sum.toFixed(2)), load_average: Number(loadavg()[0]!.toFixed(2)), n: N }));
