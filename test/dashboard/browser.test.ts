import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Browser, type BrowserContext, type Page } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { loadConfig } from "../../src/config.ts";
import { Accounts } from "../../src/dashboard/auth.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { seedHistory } from "../../scripts/dashboard/seed.ts";
import { testAgents, until } from "./harness.ts";

import "./playwright-guard.ts";

/**
 * Real headless Chromium against the product wired exactly as in production (runtime.ts), with test stand-ins for
 * the worker agents. Screenshots go to docs/screenshots when UPDATE_SCREENSHOTS=1, else to a temporary folder.
 */
const SHOTS = Bun.env.UPDATE_SCREENSHOTS === "1" ? join(import.meta.dir, "../../docs/screenshots") : join(tmpdir(), "copilot-screenshots");
mkdirSync(SHOTS, { recursive: true });

let service: Service;
let url: string;
let browser: Browser;
let ctx: BrowserContext;
let dash: Page;
let widget: Page;
const EMAIL = "lead.agent@example.com";
const PASSWORD = "browser test passphrase";

beforeAll(async () => {
  const parts = await openParts(loadConfig({ APP_ENV: "test", LOG_LEVEL: "silent" }));
  await seedHistory(parts.store.db, 400, { days: 7, seed: 11 });
  service = await startService(parts, testAgents());
  service.app!.listen({ hostname: "127.0.0.1", port: 0 });
  url = `http://127.0.0.1:${service.app!.server!.port}`;
  await new Accounts(parts.store.db, 12, { memoryCost: 1024, timeCost: 1 }).createUser({ email: EMAIL, name: "Lena Lead", role: "admin", password: PASSWORD });
  browser = await launchChromium();
  ctx = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  dash = await ctx.newPage();
  widget = await ctx.newPage();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await service?.app?.stop(true);
  await service?.stop();
});

async function sendFromWidget(text: string): Promise<void> {
  const input = widget.locator("#copilot-input");
  if (!(await input.isVisible())) await widget.locator("button.launcher").click();
  await input.fill(text);
  await input.press("Enter");
  await widget.locator(".msg.me", { hasText: text }).waitFor();
}

describe("dashboard in a real browser", () => {
  test("sign in, see a widget message arrive live, open it, see the draft, approve it, and the reply reaches the widget", async () => {
    await dash.goto(`${url}/dashboard`);
    expect(dash.url()).toContain("/dashboard/login");
    await dash.fill('input[name="email"]', EMAIL);
    await dash.fill('input[name="password"]', PASSWORD);
    await dash.click('button[type="submit"]');
    await dash.waitForURL(`${url}/dashboard`);
    await dash.locator("#live-status", { hasText: "live" }).waitFor();

    await widget.goto(`${url}/widget/demo`);
    const launcher = widget.locator("button.launcher");
    expect(await launcher.getAttribute("aria-expanded")).toBe("false");
    await launcher.click();
    expect(await launcher.getAttribute("aria-expanded")).toBe("true");
    await widget.locator(".status", { hasText: "online" }).waitFor();
    await sendFromWidget("Hi, where is my order #55512? I need it for Saturday.");

    const row = dash.locator(".feed-row", { hasText: "#55512" });
    await row.waitFor({ timeout: 10_000 });
    expect(await dash.locator(".feed-row").first().textContent()).toContain("#55512");
    await dash.screenshot({ path: join(SHOTS, "feed.png") });

    await row.locator("a").click();
    await dash.waitForURL(/\/dashboard\/conversations\//);
    const draft = dash.locator(".draft-text");
    await expect(draft.textContent()).resolves.toContain("thanks for reaching out");
    await dash.locator("#live-status", { hasText: "live" }).waitFor();
    await dash.screenshot({ path: join(SHOTS, "conversation.png"), fullPage: true });
    await dash.click("text=Approve and send");
    await dash.locator(".decision.approved").waitFor();

    const reply = widget.locator(".msg.agent", { hasText: "Items can be returned within 30 days" });
    await reply.waitFor({ timeout: 10_000 });
    await widget.waitForFunction(() => {
      const host = document.querySelector("#copilot-chat-widget");
      const last = Array.from(host?.shadowRoot?.querySelectorAll(".msg.agent") ?? []).pop();
      return !!last && !last.hasAttribute("aria-hidden") && last.textContent!.endsWith("[kb-returns-1].");
    });
    await widget.screenshot({ path: join(SHOTS, "widget.png") });

    // Keyboard: Escape closes the panel and gives focus back to the launcher.
    await widget.locator("#copilot-input").press("Escape");
    expect(await launcher.getAttribute("aria-expanded")).toBe("false");
    expect(await widget.evaluate(() => document.querySelector("#copilot-chat-widget")!.shadowRoot!.activeElement?.className)).toBe("launcher");
  }, 60_000);

  test("a reload restores the transcript without duplicates", async () => {
    await widget.reload();
    await widget.locator("button.launcher").click();
    await widget.locator(".status", { hasText: "online" }).waitFor();
    await widget.locator(".msg.agent", { hasText: "Items can be returned within 30 days" }).waitFor();
    expect(await widget.locator(".msg.me", { hasText: "#55512" }).count()).toBe(1);
    expect(await widget.locator(".msg.agent", { hasText: "Items can be returned within 30 days" }).count()).toBe(1);
  }, 30_000);

  test("filters live in the URL and apply to the live stream", async () => {
    await dash.goto(`${url}/dashboard`);
    await dash.selectOption('select[name="channel"]', "email");
    await dash.click('form.filters button[type="submit"]');
    await dash.waitForURL(/channel=email/);
    await dash.locator("#live-status", { hasText: "live" }).waitFor();
    await sendFromWidget("this chat message must stay off an email-only feed");
    await until(async () => (await fetch(`${url}/ready`)).ok);
    await until(async () => {
      // Message text is encrypted at rest: read the published rows and open them.
      const rows = await service.parts.store.db.execute(
        (await import("drizzle-orm")).sql`select m.text from messages m join results r on r.message_id = m.id where r.published_at is not null`,
      );
      const list = (rows as unknown as { rows: { text: string }[] }).rows ?? (rows as unknown as { text: string }[]);
      return list.some((r) => service.parts.store.cipher.open(r.text, "messages.text").startsWith("this chat message must stay off"));
    });
    const res = await fetch(`${url}/api/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ source: "email", user: { id: "filter@example.com", name: "Filter Test" }, message: { text: "this email belongs on the email feed" } }),
    });
    expect(res.status).toBe(202);
    await dash.locator(".feed-row", { hasText: "this email belongs on the email feed" }).waitFor({ timeout: 10_000 });
    expect(await dash.locator(".feed-row", { hasText: "must stay off" }).count()).toBe(0);
    expect(await dash.locator(".feed-row .badge.channel").allTextContents()).not.toContain("chat");
  }, 60_000);

  test("an urgent message raises a live toast and a new alert that can be acknowledged", async () => {
    await dash.goto(`${url}/dashboard/alerts`);
    await dash.locator("#live-status", { hasText: "live" }).waitFor();
    await sendFromWidget("URGENT: my card was stolen, block it immediately");
    const toast = dash.locator(".toast", { hasText: "Urgent ticket" });
    await toast.waitFor({ timeout: 10_000 });
    const row = dash.locator(".alert-row", { hasText: "Urgent ticket" }).first();
    await row.locator("button", { hasText: "Acknowledge" }).click();
    await dash.locator(".alert-row .ack", { hasText: "Lena Lead" }).first().waitFor();
    await dash.screenshot({ path: join(SHOTS, "alerts.png") });
  }, 60_000);

  test("analytics draws its charts locally with uPlot from SQL aggregates", async () => {
    await dash.goto(`${url}/dashboard/analytics?range=7d`);
    await dash.locator("#chart-volume canvas").waitFor();
    await dash.locator("#chart-sentiment canvas").waitFor();
    expect(Number(await dash.locator("#stat-total .value").textContent())).toBeGreaterThan(400);
    await dash.screenshot({ path: join(SHOTS, "analytics.png"), fullPage: true });
  }, 30_000);
});
