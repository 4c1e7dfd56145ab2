/**
 * demo:drafts — asks a running product questions through its REST API and prints each draft as an agent sees it:
 * the question, the passages the draft cites, how it was produced (mode, note, timings) and the text. Used to check
 * that `scripts/run.sh` answers the demo bank's first questions on topic (docs/response.md shows a recorded run).
 *
 *   bun run demo:drafts [--url http://127.0.0.1:3000] [--api-key KEY] [--wait-s 300] ["question" ...]
 *
 * Without questions it asks five typical first questions of a Northwind Bank customer. All are posted at once (a
 * burst), so the summary is also a load figure: drafts per minute (drafts / the latest receipt-to-draft time) and
 * the wait for the generator (the urgency-ordered generation queue plus the generator's own). Ends with one JSON line.
 */
import { parseArgs } from "node:util";

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: { url: { type: "string", default: "http://127.0.0.1:3000" }, "api-key": { type: "string" }, "wait-s": { type: "string", default: "300" } },
});
const QUESTIONS = [
  "How long does a transfer to a UK account take?",
  "I entered the wrong PIN three times and now my card is blocked. What do I do?",
  "Can I cancel a payment I sent this morning by mistake?",
  "Hi, I think someone stole my card. Please help!",
  "Is there an option to top up my account with a cheque?",
];
const questions = positionals.length ? positionals : QUESTIONS;
const headers: Record<string, string> = { "content-type": "application/json", ...(a["api-key"] ? { "x-api-key": a["api-key"] } : {}) };
const load = async () => (await Bun.file("/proc/loadavg").text().catch(() => "?")).split(" ").slice(0, 3).join(" ");
console.log(`load average at start: ${await load()}`);

const ids: { q: string; id: string }[] = [];
for (const [i, q] of questions.entries()) {
  const res = await fetch(`${a.url}/api/messages`, { method: "POST", headers, body: JSON.stringify({ source: "chat", user: { id: `demo-${Date.now()}-${i}`, name: ["Emma Dubois", "Tom Baker", "Priya Shah", "Liam Walsh", "Sofia Rossi"][i % 5] }, message: { text: q } }) });
  if (res.status !== 202) throw new Error(`POST /api/messages: ${res.status} ${await res.text()}`);
  ids.push({ q, id: ((await res.json()) as { id: string }).id });
}
const deadline = Date.now() + Number(a["wait-s"]) * 1000;
const out: Record<string, unknown>[] = [];
for (const { q, id } of ids) {
  let reply: Record<string, any> | null = null;
  while (!reply && Date.now() < deadline) {
    const r = await fetch(`${a.url}/api/replies/${id}`, { headers });
    if (r.ok) reply = ((await r.json()) as { reply: Record<string, any> | null }).reply;
    if (!reply) await Bun.sleep(1000);
  }
  if (!reply) {
    console.log(`\n### ${q}\n(no draft within ${a["wait-s"]} s)`);
    out.push({ question: q, draft: null });
    continue;
  }
  const cites = (reply.citations ?? []).map((c: Record<string, string>) => `[${c.n}] ${[c.title, c.section].filter(Boolean).join(" › ")} (${c.chunk_id})`);
  console.log(`\n### ${q}\nmode: ${reply.mode}; generator: ${reply.generator ? `${reply.generator.kind}:${reply.generator.model}` : "none"}; ttft ${reply.timings?.ttft_ms ?? "-"} ms; generator queue ${reply.timings?.generator_queue_ms ?? "-"} ms; total ${reply.timings?.total_ms} ms`);
  console.log(`passages cited: ${cites.join("; ") || "none"}`);
  console.log(`note: ${reply.note ?? "-"}`);
  console.log(`draft:\n${reply.annotated}`);
  out.push({ question: q, mode: reply.mode, citations: cites, note: reply.note, text: reply.text, timings: reply.timings });
}
const done = out.filter((o) => o.timings) as { timings: { queue_ms: number; total_ms: number; generator_queue_ms: number | null; ttft_ms: number | null } }[];
const p50 = (xs: number[]) => (xs.length ? [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)]! : null);
const finishedS = Math.max(0, ...done.map((o) => (o.timings.queue_ms + o.timings.total_ms) / 1000));
const waits = done.map((o) => o.timings.generator_queue_ms ?? 0);
const summary = {
  drafts: done.length,
  modes: out.map((o) => o.mode ?? null),
  burst_s: Math.round(finishedS * 10) / 10,
  drafts_per_min: finishedS > 0 ? Math.round((done.length / finishedS) * 600) / 10 : null,
  generator_wait_p50_ms: p50(waits),
  generator_wait_max_ms: waits.length ? Math.max(...waits) : null,
  ttft_p50_ms: p50(done.map((o) => o.timings.ttft_ms).filter((x): x is number => x !== null)),
};
console.log(`\n${summary.drafts} drafts for a burst of ${questions.length}: last one ${summary.burst_s} s after receipt (${summary.drafts_per_min} drafts/min); wait for the generator p50 ${summary.generator_wait_p50_ms} ms, max ${summary.generator_wait_max_ms} ms`);
console.log(`load average at end: ${await load()}`);
console.log(JSON.stringify(summary));
