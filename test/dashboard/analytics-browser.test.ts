import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Browser, type Page } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { seedHistory } from "../../scripts/dashboard/seed.ts";
import { loadConfig } from "../../src/config.ts";
import { Accounts } from "../../src/dashboard/auth.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { testAgents } from "./harness.ts";
import "./playwright-guard.ts";

/**
 * The analytics time axis in a real browser: the x scale of each uPlot chart (read from the chart instance itself)
 * ends now and spans the chosen range, whatever the data covers. Screenshots go to a temporary folder.
 */
const SHOTS = join(tmpdir(), "copilot-screenshots");
mkdirSync(SHOTS, { recursive: true });

let service: Service;
let url: string;
let browser: Browser;
let page: Page;
const EMAIL = "axis.lead@example.com";
const PASSWORD = "analytics axis passphrase";
const HOUR = 3600;
const DAY = 86_400;

beforeAll(async () => {
  const parts = await openParts(loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent" }));
  service = await startService(parts, testAgents());
  service.app!.listen({ hostname: "127.0.0.1", port: 0 });
  url = `http://127.0.0.1:${service.app!.server!.port}`;
  await new Accounts(parts.store.db, 12, { memoryCost: 1024, timeCost: 1 }).createUser({ email: EMAIL, name: "Axis Lead", role: "admin", password: PASSWORD });
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage();
  await page.goto(`${url}/dashboard/login`);
  await page.fill('input[name="email"]', EMAIL);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${url}/dashboard`);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await service?.app?.stop(true);
  await service?.stop();
});

interface Scale {
  min: number;
  max: number;
  bucket: string;
  points: number;
  sum: number;
}

/** Opens the analytics page on a range and reads each chart's x scale and plotted data from its uPlot instance. */
async function axes(range: string): Promise<{ volume: Scale; sentiment: Scale; total: number }> {
  await page.goto(`${url}/dashboard/analytics?range=${range}`);
  await page.locator("#chart-volume canvas").waitFor();
  await page.locator("#chart-sentiment canvas").waitFor();
  const read = (id: string) =>
    page.evaluate((id) => {
      const u = (window as unknown as { copilotCharts: Record<string, { scales: { x: { min: number; max: number } }; data: number[][] }> }).copilotCharts[id]!;
      const sum = u.data.slice(1).reduce((a, col) => a + col.reduce((x, y) => x + (y ?? 0), 0), 0);
      return { min: u.scales.x.min, max: u.scales.x.max, bucket: document.getElementById(id)!.dataset.bucket!, points: u.data[0]!.length, sum };
    }, id);
  const total = Number(await page.locator("#stat-total .value").textContent());
  return { volume: await read("chart-volume"), sentiment: await read("chart-sentiment"), total };
}

const nowS = () => Date.now() / 1000;

describe("analytics time axis", () => {
  test("one hour of data: the 24 h chart still spans 24 hours ending now, in hourly buckets with zeros", async () => {
    const written = await seedHistory(service.parts.store.db, 25, { days: 1 / 24, seed: 3 });
    const a = await axes("24h");
    for (const s of [a.volume, a.sentiment]) {
      expect(s.bucket).toBe("hour");
      expect(Math.abs(s.max - nowS())).toBeLessThan(120);
      expect(s.max - s.min).toBeGreaterThanOrEqual(24 * HOUR);
      expect(s.max - s.min).toBeLessThanOrEqual(25 * HOUR);
      expect(s.points).toBeGreaterThanOrEqual(24);
      expect(s.sum).toBe(written);
    }
    expect(a.total).toBe(written);
    expect(await page.locator("#emerging-status").textContent()).toContain("Not enough history");
    await page.screenshot({ path: join(SHOTS, "analytics-1h-of-data.png"), fullPage: true });

    const h = await axes("1h");
    expect(h.volume.bucket).toBe("minute");
    expect(Math.abs(h.volume.max - nowS())).toBeLessThan(120);
    expect(h.volume.max - h.volume.min).toBeGreaterThanOrEqual(HOUR);
    expect(h.volume.max - h.volume.min).toBeLessThanOrEqual(HOUR + 60);
  }, 60_000);

  test("30 days of data: the 30 d chart spans 30 days ending now, in daily buckets", async () => {
    await seedHistory(service.parts.store.db, 600, { days: 30, seed: 5 });
    const a = await axes("30d");
    for (const s of [a.volume, a.sentiment]) {
      expect(s.bucket).toBe("day");
      expect(Math.abs(s.max - nowS())).toBeLessThan(120);
      expect(s.max - s.min).toBeGreaterThanOrEqual(30 * DAY);
      expect(s.max - s.min).toBeLessThanOrEqual(31 * DAY);
      expect(s.points).toBeGreaterThanOrEqual(30);
      expect(s.sum).toBe(a.total);
    }
    expect(a.total).toBeGreaterThan(600);
    expect(await page.locator("#emerging-status").textContent()).not.toContain("Not enough history");
    await page.screenshot({ path: join(SHOTS, "analytics-30d.png"), fullPage: true });

    const w = await axes("7d");
    expect(w.volume.bucket).toBe("hour");
    expect(w.volume.max - w.volume.min).toBeGreaterThanOrEqual(7 * DAY);
    expect(w.volume.max - w.volume.min).toBeLessThanOrEqual(7 * DAY + HOUR);
  }, 60_000);
});
