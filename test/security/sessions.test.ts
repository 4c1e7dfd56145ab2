import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { eq } from "drizzle-orm";
import { alerts } from "../../src/db/schema.ts";
import { readCookie } from "../../src/dashboard/auth.ts";
import { ingest, signIn, socket, startHarness, type Harness } from "../dashboard/harness.ts";

let h: Harness;
let hookServer: ReturnType<typeof Bun.serve>;
let hookCalls = 0;

beforeAll(async () => {
  hookServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => (hookCalls++, new Response("ok")) });
  // Sockets are re-checked every 200 ms here (5 s by default); one alert webhook per minute.
  h = await startHarness({ listen: true, sessionRecheckMs: 200, env: { ALERT_WEBHOOK_URL: `http://127.0.0.1:${hookServer.port}/hook`, RATE_LIMIT_ALERT_WEBHOOK: "1/1m" } });
}, 60_000);
afterAll(async () => {
  await h.stop();
  hookServer.stop(true);
});

const wsUrl = (path: string) => `${h.url.replace("http", "ws")}${path}`;
/** Resolves with the close code, or null if the socket is still open after `ms`. */
const closedWithin = (ws: WebSocket, ms: number) =>
  new Promise<number | null>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve(-1);
    const t = setTimeout(() => resolve(null), ms);
    ws.addEventListener("close", (e) => {
      clearTimeout(t);
      resolve(e.code);
    });
  });

async function liveSocket(cookie: string) {
  const s = await socket(wsUrl("/dashboard/ws?page=feed"), { cookie });
  await s.next((f) => f.includes("live-status"));
  return s;
}

describe("dashboard sockets follow their session", () => {
  test("disabling a user closes their open dashboard socket at once; other users' sockets stay open", async () => {
    const admin = await signIn(h, "admin");
    const agent = await signIn(h, "agent");
    const theirs = await liveSocket(agent.cookie);
    const mine = await liveSocket(admin.cookie);
    const [row] = await h.dashboard.accounts.list().then((l) => l.filter((u) => u.email === agent.email));
    const r = await admin.post(`/dashboard/users/${row!.id}/disable`, { _csrf: admin.csrf });
    expect(r.status).toBe(303);
    expect(await closedWithin(theirs.ws, 2000)).toBe(4401);
    expect(await closedWithin(mine.ws, 500)).toBeNull();
    mine.close();
  });

  test("a session ended elsewhere (another replica, an admin reset) closes the socket within the re-check interval", async () => {
    const agent = await signIn(h, "agent");
    const s = await liveSocket(agent.cookie);
    const token = readCookie(agent.cookie, "copilot_session")!;
    // What another replica's sign-out does: only the database row goes away.
    await h.dashboard.accounts.endSession(createHash("sha256").update(token).digest("hex"));
    expect(await closedWithin(s.ws, 3000)).toBe(4401);
    expect((await agent.get("/dashboard")).status).toBe(303);
  });

  test("a password reset (all sessions ended) and sign-out close the user's sockets", async () => {
    const agent = await signIn(h, "agent");
    const a = await liveSocket(agent.cookie);
    await h.dashboard.accounts.setPassword(agent.email, "another long passphrase");
    expect(await closedWithin(a.ws, 3000)).toBe(4401);
    const again = await signIn(h, "agent");
    const b = await liveSocket(again.cookie);
    await again.post("/dashboard/logout", { _csrf: again.csrf });
    expect(await closedWithin(b.ws, 2000)).toBe(4401);
  });
});

describe("alert webhooks are rate limited", () => {
  test("past the limit an alert is still stored and toasted, but the webhook is skipped and recorded as rate_limited", async () => {
    const before = hookCalls;
    const one = await ingest(h, { source: "chat", user: { id: "visitor-rl-1", name: "Rita" }, message: { text: "urgent: card stolen" } });
    const two = await ingest(h, { source: "chat", user: { id: "visitor-rl-2", name: "Ravi" }, message: { text: "urgent: account locked" } });
    await h.dashboard.settle();
    const status = async (id: string) => (await h.parts.store.db.select().from(alerts).where(eq(alerts.messageId, id)))[0]?.webhookStatus;
    expect([await status(one.id), await status(two.id)].sort()).toEqual(["rate_limited", "sent"]);
    expect(hookCalls - before).toBe(1);
  });
});
