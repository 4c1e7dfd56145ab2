import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { getPriority } from "node:os";
import { loadConfig } from "../../src/config.ts";
import { niceVerifier, poolVerifier } from "../../src/dashboard/password-check.ts";

/** Nice values of this process's threads (Linux /proc; field 19 of each task's stat). */
function threadNices(): number[] {
  return readdirSync("/proc/self/task").map((t) => {
    const stat = readFileSync(`/proc/self/task/${t}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });
}

describe("sign-in password checks off the request path", () => {
  const cheap = { algorithm: "argon2id" as const, memoryCost: 1024, timeCost: 1 };

  test("the worker-thread verifier accepts the right password and refuses a wrong one or a malformed hash, like Bun's pool", async () => {
    const hash = await Bun.password.hash("correct horse battery", cheap);
    const verify = niceVerifier(10);
    for (const v of [verify, poolVerifier]) {
      expect(await v("correct horse battery", hash)).toBe(true);
      expect(await v("correct horse batterY", hash)).toBe(false);
      expect(await v("correct horse battery", "not-an-argon2-hash")).toBe(false);
    }
    // Checks queued together each get their own answer.
    expect(await Promise.all(["a", "correct horse battery", "b"].map((p) => verify(p, hash)))).toEqual([false, true, false]);
  });

  test.if(process.platform === "linux")("on Linux the checker's thread runs at the configured nice value and the product's main thread keeps its own", async () => {
    const before = threadNices().filter((n) => n === 7).length;
    const main = getPriority();
    const verify = niceVerifier(7);
    expect(await verify.appliedNice()).toBe(7);
    expect(threadNices().filter((n) => n === 7).length).toBeGreaterThan(before);
    expect(getPriority()).toBe(main);
  });

  test("DASHBOARD_PASSWORD_CHECK_NICE defaults to 10; 0 keeps Bun's pool; out of range is refused", () => {
    expect(loadConfig({}).dashboard.passwordCheckNice).toBe(10);
    expect(loadConfig({ DASHBOARD_PASSWORD_CHECK_NICE: "0" }).dashboard.passwordCheckNice).toBe(0);
    expect(() => loadConfig({ DASHBOARD_PASSWORD_CHECK_NICE: "20" })).toThrow(/DASHBOARD_PASSWORD_CHECK_NICE/);
  });
});
