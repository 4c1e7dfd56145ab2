import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { cookieNames, hasRole, setCookie } from "../../src/dashboard/auth.ts";
import { safeNext } from "../../src/dashboard/http.ts";
import { users } from "../../src/db/schema.ts";
import { client, login, signIn, startHarness, type Harness } from "./harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { RATE_LIMIT_SIGNIN_ACCOUNT: "5/15m" } });
}, 60_000);

/** Password verifications run so far (copilot_signin_password_checks_total). */
const checks = async () => (await h.parts.metrics.signinChecks.get()).values[0]?.value ?? 0;
afterAll(async () => {
  await h.stop();
});

describe("dashboard access", () => {
  test("pages redirect to sign-in, htmx requests get 401 with HX-Redirect, posts get 401", async () => {
    const page = await h.app.handle(new Request(`${h.url}/dashboard/analytics?range=24h`));
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/dashboard/login?next=%2Fdashboard%2Fanalytics%3Frange%3D24h");
    const hx = await h.app.handle(new Request(`${h.url}/dashboard/alerts`, { headers: { "hx-request": "true" } }));
    expect(hx.status).toBe(401);
    expect(hx.headers.get("hx-redirect")).toBe("/dashboard/login");
    const post = await h.app.handle(new Request(`${h.url}/dashboard/alerts/1/ack`, { method: "POST" }));
    expect(post.status).toBe(401);
  });

  test("static assets and the sign-in page are public; htmx is served locally", async () => {
    const htmx = await h.app.handle(new Request(`${h.url}/dashboard/assets/htmx.min.js`));
    expect(htmx.status).toBe(200);
    expect(await htmx.text()).toContain("htmx");
    expect((await h.app.handle(new Request(`${h.url}/dashboard/assets/uplot.min.js`))).status).toBe(200);
    expect((await h.app.handle(new Request(`${h.url}/dashboard/assets/..%2Fpackage.json`))).status).toBe(404);
    const loginPage = await h.app.handle(new Request(`${h.url}/dashboard/login`));
    expect(loginPage.status).toBe(200);
    expect(await loginPage.text()).not.toContain("https://");
  });

  test("sign-in sets an HttpOnly SameSite=Strict session cookie and stores only an argon2id hash", async () => {
    const c = await signIn(h, "agent");
    const r = await login(h, c.email, c.password);
    expect(r.status).toBe(303);
    const cookie = r.headers.getSetCookie().find((x) => x.startsWith("copilot_session="))!;
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    const [row] = await h.parts.store.db.select().from(users).where(eq(users.email, c.email));
    expect(row!.passwordHash.startsWith("$argon2id$")).toBe(true);
    expect(row!.passwordHash).not.toContain(c.password);
  });

  test("a wrong password is refused, and a form without its CSRF cookie is refused", async () => {
    const c = await signIn(h, "agent");
    expect((await login(h, c.email, "wrong password!!")).status).toBe(401);
    const page = await h.app.handle(new Request(`${h.url}/dashboard/login`));
    const token = (await page.text()).match(/name="_csrf" value="([^"]+)"/)![1]!;
    const r = await h.app.handle(
      new Request(`${h.url}/dashboard/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ _csrf: token, email: c.email, password: c.password }).toString(),
      }),
    );
    expect(r.status).toBe(403);
  });

  test("brute force: parallel guesses are counted before the password check; at most 5 checks run, then even the right password waits", async () => {
    const c = await signIn(h, "agent");
    const before = await checks();
    // A spoofed X-Forwarded-For is ignored (no trusted proxies): every guess counts against the same address and account.
    const guesses = await Promise.all(Array.from({ length: 25 }, (_, i) => login(h, c.email, `guess number ${i}`, { "x-forwarded-for": `203.0.113.${i}` })));
    const statuses = guesses.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBe(5);
    expect(statuses.filter((s) => s === 429).length).toBe(20);
    expect((await checks()) - before).toBe(5);
    const locked = await login(h, c.email, c.password, { "x-forwarded-for": "198.51.100.1" });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await checks()) - before).toBe(5);
  });

  test("state-changing requests need the session's CSRF token", async () => {
    const c = await signIn(h, "admin");
    const without = await h.app.handle(
      new Request(`${h.url}/dashboard/alerts/rules`, { method: "POST", headers: { cookie: c.cookie, "content-type": "application/x-www-form-urlencoded" }, body: "name=x&kind=keyword&values=refund" }),
    );
    expect(without.status).toBe(403);
    const wrong = await c.post("/dashboard/alerts/rules", { name: "x", kind: "keyword", values: "refund", _csrf: "not-the-token" });
    expect(wrong.status).toBe(403);
    const right = await c.post("/dashboard/alerts/rules", { name: "Refunds", kind: "keyword", values: "refund", _csrf: c.csrf });
    expect(right.status).toBe(303);
    const viaHeader = await c.post("/dashboard/alerts/rules", { name: "Chargebacks", kind: "keyword", values: "chargeback" }, { "x-csrf-token": c.csrf });
    expect(viaHeader.status).toBe(303);
  });

  test("roles: agents cannot read analytics or manage users; leads read analytics; admins do both", async () => {
    const agent = await signIn(h, "agent");
    const lead = await signIn(h, "lead");
    const admin = await signIn(h, "admin");
    expect((await agent.get("/dashboard")).status).toBe(200);
    expect((await agent.get("/dashboard/analytics")).status).toBe(403);
    expect((await agent.get("/dashboard/users")).status).toBe(403);
    expect((await agent.post("/dashboard/alerts/rules", { name: "x", kind: "keyword", values: "a", _csrf: agent.csrf })).status).toBe(403);
    expect((await lead.get("/dashboard/analytics")).status).toBe(200);
    expect((await lead.get("/dashboard/agents")).status).toBe(200);
    expect((await lead.get("/dashboard/users")).status).toBe(403);
    expect((await admin.get("/dashboard/users")).status).toBe(200);
    expect(hasRole("admin", "lead") && !hasRole("agent", "lead")).toBe(true);
  });

  test("admins create users from the dashboard; new users can sign in; disabled users cannot", async () => {
    const admin = await signIn(h, "admin");
    const r = await admin.post("/dashboard/users", { email: "new.agent@example.com", name: "New Agent", role: "agent", password: "another long passphrase", _csrf: admin.csrf });
    expect(r.status).toBe(303);
    expect((await login(h, "new.agent@example.com", "another long passphrase")).status).toBe(303);
    const short = await admin.post("/dashboard/users", { email: "short@example.com", name: "S", role: "agent", password: "short", _csrf: admin.csrf });
    expect(short.status).toBe(422);
    const [u] = await h.parts.store.db.select().from(users).where(eq(users.email, "new.agent@example.com"));
    expect((await admin.post(`/dashboard/users/${u!.id}/disable`, { _csrf: admin.csrf })).status).toBe(303);
    expect((await login(h, "new.agent@example.com", "another long passphrase")).status).toBe(401);
  });

  test("sign-out ends the session server-side", async () => {
    const c = await signIn(h, "agent");
    expect((await c.post("/dashboard/logout", { _csrf: c.csrf })).status).toBe(303);
    const after = await client(h, c.cookie, c.csrf).get("/dashboard");
    expect(after.status).toBe(303);
  });

  test("cookies are Secure with the __Host- prefix when configured; post-login redirects stay on the dashboard", () => {
    expect(cookieNames(true).session).toBe("__Host-copilot_session");
    expect(setCookie("__Host-copilot_session", "v", 60, true)).toContain("; Secure");
    expect(setCookie("copilot_session", "v", 60, false)).not.toContain("Secure");
    expect(safeNext("https://evil.example/", "/dashboard")).toBe("/dashboard");
    expect(safeNext("//evil.example/dashboard", "/dashboard")).toBe("/dashboard");
    expect(safeNext("/dashboard/alerts", "/dashboard")).toBe("/dashboard/alerts");
  });

  test("pages carry a strict Content-Security-Policy and are not framable", async () => {
    const c = await signIn(h, "agent");
    const r = await c.get("/dashboard");
    expect(r.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(r.headers.get("x-frame-options")).toBe("DENY");
  });
});
