import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EmbedKind, Embedder } from "../../src/ml/embedder.ts";
import { tokenize } from "../../src/rag/text.ts";
import { PROBE_TEXT } from "../../src/rag/vectors.ts";

/**
 * Deterministic stand-in encoder for unit tests only: hashed bag of stemmed words and character trigrams,
 * L2-normalised. Related texts share words, so it ranks sensibly on small KBs; it counts what it embeds.
 */
export class HashEmbedder implements Embedder {
  readonly dim: number;
  calls = 0;
  /** Texts embedded, not counting the index fingerprint probe embedded at every open. */
  texts = 0;
  /** `salt` changes the encoding without changing the id (to test the fingerprint check). */
  constructor(readonly id = "test-hash-embedder@1", dim = 256, private readonly salt = "") {
    this.dim = dim;
  }
  async embed(texts: string[], _kind: EmbedKind = "passage"): Promise<Float32Array[]> {
    this.calls++;
    this.texts += texts.filter((t) => t !== PROBE_TEXT).length;
    return texts.map((t) => {
      const v = new Float32Array(this.dim);
      for (const w of tokenize(t).map((x) => this.salt + x)) {
        v[hash(w) % this.dim]! += 1;
        const p = `#${w}#`;
        for (let i = 0; i + 3 <= p.length; i++) v[hash(p.slice(i, i + 3)) % this.dim]! += 0.3;
      }
      let n = 0;
      for (const x of v) n += x * x;
      if (n === 0) {
        v[0] = 1;
        return v;
      }
      n = Math.sqrt(n);
      for (let i = 0; i < v.length; i++) v[i]! /= n;
      return v;
    });
  }
  async close(): Promise<void> {}
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A fresh temporary folder, removed by the returned function. */
export function tempDir(prefix = "rag-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
