import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Browser, type Page } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { openWorkers, type Workers } from "../../src/agents/registry.ts";
import { loadConfig } from "../../src/config.ts";
import { Accounts } from "../../src/dashboard/auth.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";

/**
 * The bank demo end to end in headless Chromium, with the product's real workers (triage models, retrieval over the
 * bank's help centre kb/northwind, the response agent; no generator, so the draft is the extractive composer's):
 * a customer asks the demo site's widget a bank question, an agent approves the draft, the customer sees the answer.
 */
let service: Service;
let workers: Workers;
let url: string;
let browser: Browser;
let dash: Page;
let widget: Page;
const dataDir = mkdtempSync(join(tmpdir(), "bank-demo-"));
const EMAIL = "bank.agent@example.com";
const PASSWORD = "bank demo passphrase";

beforeAll(async () => {
  const config = loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent", LLM_GENERATOR: "none", RAG_KB_DIR: "kb/northwind", RAG_DATA_DIR: dataDir });
  const parts = await openParts(config);
  workers = await openWorkers(parts);
  await workers.knowledge!.ready;
  service = await startService(parts, workers.agents, { afterConsumersStopped: () => workers.close() });
  service.app!.listen({ hostname: "127.0.0.1", port: 0 });
  url = `http://127.0.0.1:${service.app!.server!.port}`;
  await new Accounts(parts.store.db, 12, { memoryCost: 1024, timeCost: 1 }).createUser({ email: EMAIL, name: "Bea Banker", role: "admin", password: PASSWORD });
  browser = await launchChromium();
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  dash = await ctx.newPage();
  widget = await ctx.newPage();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await service?.app?.stop(true);
  await service?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("bank demo in a real browser", () => {
  test("the demo bank's widget asks a bank question, the draft is approved in the dashboard, the customer sees the answer", async () => {
    await dash.goto(`${url}/dashboard`);
    await dash.fill('input[name="email"]', EMAIL);
    await dash.fill('input[name="password"]', PASSWORD);
    await dash.click('button[type="submit"]');
    await dash.waitForURL(`${url}/dashboard`);
    await dash.locator("#live-status", { hasText: "live" }).waitFor();

    await widget.goto(`${url}/widget/demo`);
    expect(await widget.title()).toContain("Northwind Bank");
    await widget.locator("button.launcher").click();
    await widget.locator(".status", { hasText: "online" }).waitFor();
    const question = "How long does a transfer to a UK account take?";
    await widget.locator("#copilot-input").fill(question);
    await widget.locator("#copilot-input").press("Enter");

    const row = dash.locator(".feed-row", { hasText: "transfer to a UK account" });
    await row.waitFor({ timeout: 60_000 });
    await row.locator("a").click();
    await dash.waitForURL(/\/dashboard\/conversations\//);
    const draft = dash.locator(".draft-text").last();
    await dash.waitForFunction(() => /Faster Payments/.test(Array.from(document.querySelectorAll(".draft-text")).pop()?.textContent ?? ""), undefined, { timeout: 120_000 });
    const text = (await draft.textContent()) ?? "";
    expect(text).toContain("within 2 hours");
    expect(text).toContain("Kind regards,");
    expect(text).toContain("The Northwind Bank team");
    await dash.click("text=Approve and send");
    await dash.locator(".decision.approved").waitFor();

    const answer = widget.locator(".msg.agent", { hasText: "within 2 hours" });
    await answer.waitFor({ timeout: 30_000 });
    expect(await answer.textContent()).toContain("Faster Payments");
  }, 300_000);
});
