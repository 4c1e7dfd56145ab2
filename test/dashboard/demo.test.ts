import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { SCRIPT } from "../../scripts/demo.ts";
import { startHarness, until, type Harness } from "./harness.ts";

/** Luhn check of the digits of a card number. */
function luhn(number: string): boolean {
  const d = number.replace(/\D/g, "").split("").reverse().map(Number);
  return d.reduce((s, x, i) => s + (i % 2 ? (x * 2 > 9 ? x * 2 - 9 : x * 2) : x), 0) % 10 === 0;
}

describe("demo script content", () => {
  test("covers chat, email and social, urgent and angry messages, and PII with Luhn-valid test cards", () => {
    expect(SCRIPT.length).toBeGreaterThanOrEqual(35);
    for (const c of ["chat", "email", "social"]) expect(SCRIPT.filter((m) => m.channel === c).length).toBeGreaterThanOrEqual(5);
    expect(SCRIPT.filter((m) => /urgent|immediately|asap/i.test(m.text)).length).toBeGreaterThanOrEqual(3);
    expect(SCRIPT.filter((m) => /furious|unacceptable|ridiculous/i.test(m.text)).length).toBeGreaterThanOrEqual(2);
    // Card-shaped numbers (4-4-4-4, or Amex 4-6-5) not inside a longer group such as the IBAN.
    const cards = SCRIPT.flatMap((m) => m.text.match(/(?<![\dA-Z] )\b(?:\d{4} \d{4} \d{4} \d{4}|\d{4} \d{6} \d{5})\b/g) ?? []);
    expect(cards.length).toBeGreaterThanOrEqual(3);
    for (const c of cards) expect(luhn(c)).toBe(true);
    expect(SCRIPT.some((m) => /@example\.com/.test(m.text))).toBe(true);
    expect(new Set(SCRIPT.map((m) => m.text)).size).toBe(SCRIPT.length);
  });
});

describe("bun run demo against a running product", () => {
  let h: Harness;
  beforeAll(async () => {
    // The replay sends 19 chat messages in 8 s from one address (127.0.0.1); an audience's browsers have their own.
    h = await startHarness({ listen: true, env: { RATE_LIMIT_CHAT_MESSAGE_IP: "60/1m" } });
  }, 60_000);
  afterAll(async () => {
    await h.stop();
  });

  test("every message goes through the real ingest path and gets a result", async () => {
    const proc = Bun.spawn(["bun", "scripts/demo.ts", "--url", h.url, "--interval-ms", "200"], {
      cwd: `${import.meta.dir}/../..`,
      env: { PATH: Bun.env.PATH ?? "", HOME: Bun.env.HOME ?? "/tmp", APP_ENV: "test", LOG_LEVEL: "silent" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const code = await proc.exited;
    const out = await new Response(proc.stdout).text();
    expect(code).toBe(0);
    expect(JSON.parse(out.trim().split("\n").pop()!)).toEqual({ demo: "northwind-bank", sent: SCRIPT.length, failed: 0 });
    const count = async () => {
      const r = await h.parts.store.db.execute(sql`select channel, count(*)::int as n from results group by 1`);
      return ((r as unknown as { rows?: { channel: string; n: number }[] }).rows ?? (r as unknown as { channel: string; n: number }[])).map((x) => [x.channel, Number(x.n)] as const);
    };
    const rows = await until(async () => {
      const c = await count();
      return c.reduce((a, [, n]) => a + n, 0) === SCRIPT.length ? c : null;
    }, 20_000, "a result for every demo message");
    const by = Object.fromEntries(rows);
    for (const c of ["chat", "email", "social"]) expect(by[c]).toBe(SCRIPT.filter((m) => m.channel === c).length);
  }, 60_000);
});
