/**
 * Searches the KB and past tickets as the knowledge agent would.
 *
 *   bun run kb:search "how long does a chargeback take?" [--k 5] [--all] [--data-dir .data/index] [--json]
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { openKnowledge } from "../../src/rag/index.ts";
import { loadEmbedder } from "./embedder.ts";

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "data-dir": { type: "string", default: ".data/index" },
    k: { type: "string", default: "5" },
    all: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    model: { type: "string" },
    kb: { type: "string", default: "kb" },
  },
});
const query = positionals.join(" ").trim();
if (!query) {
  console.error('usage: kb:search "query" [--k 5] [--all] [--json]');
  process.exit(2);
}
const embedder = await loadEmbedder(a.model);
const k = await openKnowledge({ embedder, dataDir: resolve(a["data-dir"]!), kbDir: a.kb });
const r = await k.search(query, { k: Number(a.k), all: a.all });
if (a.json) console.log(JSON.stringify(r, null, 1));
else {
  console.log(`query: ${r.query}  (embed ${r.timings_ms.embed} ms, search ${r.timings_ms.search} ms, threshold ${r.threshold})`);
  if (r.abstain) console.log("ABSTAIN: nothing clears the relevance threshold");
  for (const p of [...r.passages, ...r.tickets]) {
    console.log(`\n[${p.score.toFixed(3)}] ${p.collection}:${p.source}${p.section ? ` § ${p.section}` : ""}  (${p.retrievers.join("+")})`);
    console.log(`  ${p.text.replace(/\s+/g, " ").slice(0, 300)}`);
  }
}
await k.close();
await embedder.close();
