/**
 * Ingests a folder (Markdown/HTML/text, recursively), a file, or a JSONL of {id, title, text, url} into the KB index,
 * incrementally: unchanged documents cost a hash, changed ones re-embed only their changed chunks.
 *
 *   bun run kb:ingest [PATH=kb] [--data-dir .data/index] [--rebuild] [--model DIR]
 */
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { openKnowledge } from "../../src/rag/index.ts";
import { loadEmbedder } from "./embedder.ts";
import { progressBar } from "./util.ts";

const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: { "data-dir": { type: "string", default: ".data/index" }, rebuild: { type: "boolean", default: false }, model: { type: "string" } },
});
const path = positionals[0] ?? "kb";
const dataDir = resolve(a["data-dir"]!);
if (a.rebuild) rmSync(join(dataDir, "kb"), { recursive: true, force: true });

const t0 = performance.now();
const embedder = await loadEmbedder(a.model);
const k = await openKnowledge({ embedder, dataDir, kbDir: null });
const s = await k.ingest(path, { progress: progressBar("embedding chunks") });
await k.close();
await embedder.close();
const st = k.stats().kb;
console.log(`${path}: ${s.docs} docs (${s.added} added, ${s.updated} updated, ${s.deleted} deleted, ${s.unchanged} unchanged)`);
console.log(`chunks: ${s.embedded} embedded, ${s.reused} kept from changed docs, ${s.removed} removed; index now ${st.docs} docs / ${st.chunks} chunks`);
console.log(`time ${((performance.now() - t0) / 1000).toFixed(1)} s (ingest ${(s.ms / 1000).toFixed(1)} s); index size ${(st.bytes / 2 ** 20).toFixed(2)} MiB in ${join(dataDir, "kb")}`);
console.log(JSON.stringify({ ...s, index_docs: st.docs, index_chunks: st.chunks, index_bytes: st.bytes }));
