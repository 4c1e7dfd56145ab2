/**
 * The sign-in password checker's thread (a Bun Worker started by password-check.ts). Its first message sets its
 * scheduling priority; every later one is an argon2id verification it runs synchronously on itself, one at a time.
 * The checks are CPU- and memory-hard by design; at a lower priority they take only the CPU that request handling and
 * the pipeline leave over.
 */
import { setPriority } from "node:os";

declare const self: Worker;

/** From the main thread: the nice value once, then checks. */
type In = { nice: number } | { id: number; password: string; hash: string };

self.onmessage = (e: MessageEvent<In>) => {
  const m = e.data;
  if ("nice" in m) {
    let applied = 0;
    // On Linux a nice value belongs to a thread: setpriority(PRIO_PROCESS, 0) lowers this worker's thread only.
    // Elsewhere (macOS) it would lower the whole product, so it is left alone there.
    if (m.nice > 0 && process.platform === "linux") {
      try {
        setPriority(0, m.nice);
        applied = m.nice;
      } catch {
        applied = 0;
      }
    }
    self.postMessage({ nice: applied });
    return;
  }
  let ok = false;
  try {
    ok = Bun.password.verifySync(m.password, m.hash);
  } catch {
    ok = false;
  }
  self.postMessage({ id: m.id, ok });
};
