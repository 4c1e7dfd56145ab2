import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh temporary folder and its remover. */
export function tempDir(prefix = "rag-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A one-line progress bar on stderr. */
export function progressBar(label: string): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done < total && now - last < 100) return;
    last = now;
    const w = 30;
    const f = total ? Math.round((done / total) * w) : w;
    process.stderr.write(`\r${label} [${"#".repeat(f)}${".".repeat(w - f)}] ${done}/${total}`);
    if (done >= total) process.stderr.write("\n");
  };
}
