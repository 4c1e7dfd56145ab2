/**
 * Where sign-in password checks run. `niceVerifier` runs them on one worker thread at a lower scheduling priority, so
 * a burst of sign-ins (an attacker's parallel guesses) cannot take a core from request handling and the pipeline;
 * `poolVerifier` runs them on Bun's thread pool at the product's priority (tests, and `DASHBOARD_PASSWORD_CHECK_NICE=0`).
 */

/** Checks a password against a stored argon2id hash; false for a wrong password or a malformed hash. */
export type PasswordVerifier = (password: string, hash: string) => Promise<boolean>;

/** Bun's own asynchronous verification (its thread pool, same priority as the rest of the product). */
export const poolVerifier: PasswordVerifier = (password, hash) => Bun.password.verify(password, hash).catch(() => false);

/** One checker per nice value per process: every dashboard built in the process (tests build many) shares its thread. */
const checkers = new Map<number, PasswordVerifier & { appliedNice(): Promise<number> }>();

/**
 * A verifier on a dedicated worker thread at `nice` (Linux: 1–19, higher is lower priority). Checks queue on the one
 * thread and run one at a time. The worker starts on the first check and does not keep the process alive.
 */
export function niceVerifier(nice: number): PasswordVerifier & { appliedNice(): Promise<number> } {
  let checker = checkers.get(nice);
  if (!checker) checkers.set(nice, (checker = startChecker(nice)));
  return checker;
}

function startChecker(nice: number): PasswordVerifier & { appliedNice(): Promise<number> } {
  let worker: Worker | null = null;
  let applied: Promise<number> = Promise.resolve(0);
  let next = 0;
  const waiting = new Map<number, (ok: boolean) => void>();
  const start = (): Worker => {
    // ref: false — an idle checker never keeps the process alive; smol — its JS heap holds a few strings.
    const w = new Worker(new URL("./password-worker.ts", import.meta.url).href, { ref: false, smol: true });
    let setNice: (n: number) => void = () => {};
    applied = new Promise((resolve) => (setNice = resolve));
    w.onmessage = (e: MessageEvent<{ nice: number } | { id: number; ok: boolean }>) => {
      const m = e.data;
      if ("nice" in m) return setNice(m.nice);
      waiting.get(m.id)?.(m.ok);
      waiting.delete(m.id);
    };
    // A dead worker fails the checks it held (a refused sign-in, never an accepted one); the next check starts another.
    w.onerror = () => {
      for (const done of waiting.values()) done(false);
      waiting.clear();
      if (worker === w) worker = null;
      setNice(0);
      w.terminate();
    };
    w.postMessage({ nice });
    return w;
  };
  const verify = (password: string, hash: string) =>
    new Promise<boolean>((resolve) => {
      worker ??= start();
      const id = next++;
      waiting.set(id, resolve);
      worker.postMessage({ id, password, hash });
    });
  return Object.assign(verify, {
    appliedNice: () => {
      worker ??= start();
      return applied;
    },
  });
}
