/** Shared helpers of the ML admin scripts: progress bars, embedding cache, python bridge, tables. */
import { createHash } from "node:crypto";
import { mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OnnxEmbedder } from "../../src/ml/onnx-embedder.ts";

/** A one-line progress bar on stderr (no-op when stderr is not a terminal, except the final line). */
export function progress(label: string, total: number): { tick(n: number): void; done(extra?: string): void } {
  const started = performance.now();
  let last = 0;
  let count = 0;
  const draw = (final: boolean, extra = "") => {
    const frac = total ? count / total : 1;
    const width = 30;
    const bar = "█".repeat(Math.round(frac * width)).padEnd(width, "░");
    const secs = (performance.now() - started) / 1000;
    const rate = count / Math.max(secs, 1e-9);
    const line = `${label.padEnd(22)} ${bar} ${String(count).padStart(6)}/${total} ${rate.toFixed(0).padStart(5)}/s ${secs.toFixed(1)}s ${extra}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${final ? "\n" : ""}`);
    else if (final) process.stderr.write(`${line}\n`);
  };
  return {
    tick(n: number) {
      count += n;
      const now = performance.now();
      if (now - last > 100) {
        last = now;
        draw(false);
      }
    },
    done(extra?: string) {
      draw(true, extra);
    },
  };
}

/** Where embeddings of training/eval files are cached between runs (keyed by embedder id, kind and texts). */
export const CACHE_DIR = process.env.ML_CACHE_DIR ?? join(tmpdir(), "copilot-ml-cache");

/** Embeds texts in chunks with a progress bar; caches the matrix (n × dim float32) on disk. */
export async function embedAll(embedder: OnnxEmbedder, texts: string[], label: string, kind: "query" | "passage" = "query"): Promise<Float32Array> {
  const prefix = kind === "query" ? embedder.spec.query_prefix : embedder.spec.passage_prefix;
  const key = createHash("sha256").update(`${embedder.id}\u0000${embedder.spec.pooling}\u0000${embedder.spec.max_length}\u0000${prefix}\u0000`).update(texts.join("\u0001")).digest("hex").slice(0, 24);
  mkdirSync(CACHE_DIR, { recursive: true });
  const path = join(CACHE_DIR, `${key}.f32`);
  if (existsSync(path)) {
    const buf = await Bun.file(path).arrayBuffer();
    if (buf.byteLength === texts.length * embedder.dim * 4) {
      process.stderr.write(`${label.padEnd(22)} ${texts.length} embeddings from cache\n`);
      return new Float32Array(buf);
    }
  }
  const out = new Float32Array(texts.length * embedder.dim);
  const bar = progress(label, texts.length);
  const chunk = 256;
  for (let i = 0; i < texts.length; i += chunk) {
    const part = texts.slice(i, i + chunk);
    const vecs = await embedder.encode(part.map((t) => prefix + t));
    vecs.forEach((v, k) => out.set(v, (i + k) * embedder.dim));
    bar.tick(part.length);
  }
  bar.done();
  await Bun.write(path, out);
  return out;
}

/** Runs a python helper script; its stderr streams through, its stdout (JSON) is returned parsed. */
export async function python(script: string, args: string[]): Promise<unknown> {
  const py = process.env.PYTHON ?? "python3";
  // One BLAS thread: on a 2-core box shared with the running product, more threads thrash (measured 20x slower).
  const env = { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? "1", OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? "1" };
  const proc = Bun.spawn([py, join(import.meta.dir, script), ...args], { stdout: "pipe", stderr: "inherit", env });
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${script} exited with ${code} (needs: pip install numpy scikit-learn onnx onnxruntime)`);
  const last = out.trim().split("\n").pop() ?? "{}";
  return JSON.parse(last);
}

/** Prints rows as an aligned text table on stdout. */
export function table(rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === "number" ? (Number.isInteger(c) ? String(c) : c.toFixed(4)) : c)));
  const widths = cells[0]!.map((_, j) => Math.max(...cells.map((r) => (r[j] ?? "").length)));
  for (const r of cells) console.log(r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  "));
}

/** Percentile of a sorted-on-demand sample. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Writes a float32 matrix and its labels for the python trainer. */
export async function writeMatrix(path: string, x: Float32Array): Promise<void> {
  await Bun.write(path, x);
}
