import { afterAll, beforeAll, expect, test } from "bun:test";
import { ingest, signIn, socket, startHarness, until, type Client, type Harness } from "./harness.ts";
import { publicVisitorId } from "../../src/widget/identity.ts";

let h: Harness;
let admin: Client;
beforeAll(async () => {
  h = await startHarness({ listen: true });
  admin = await signIn(h, "admin");
}, 60_000);
afterAll(async () => {
  await h.stop();
});

const SCRIPT = `<script>alert("xss")</script>`;
const IMG = `<img src=x onerror=alert(1)>`;
/** Markup that must never reach a page unescaped. */
const LIVE_MARKUP = [/<script>alert/i, /<img src=x onerror/i, /<svg onload/i];
/**
 * Markup is live only outside quoted attribute values: inside `value="…"` a `<` is plain text (Kita escapes the
 * quote, so a value cannot end early). Quoted values are blanked before looking for live markup.
 */
const assertInert = (html: string, where: string) => {
  const outsideAttributes = html.replace(/="[^"]*"/g, '=""');
  for (const re of LIVE_MARKUP) expect({ where, hit: re.test(outsideAttributes) }).toEqual({ where, hit: false });
};

test("script and onerror payloads sent through every channel render inert on every page and in live fragments", async () => {
  const feedSocket = await socket(`${h.url.replace("http", "ws")}/dashboard/ws?page=feed`, { cookie: admin.cookie });
  const ids: { id: string; conversation_id: string }[] = [];
  for (const source of ["email", "social", "chat"] as const) {
    ids.push(
      await ingest(h, {
        source,
        user: { id: `${source}-attacker`, name: `${IMG} ${source}` },
        message: { text: `urgent ${SCRIPT} ${IMG} [intent:<svg onload=alert(3)>] via ${source}` },
      }),
    );
  }
  // The customer chat socket (the widget's channel), with a payload in the display name too.
  const chat = await socket(`${h.url.replace("http", "ws")}/api/chat/ws?visitor=xss-visitor-1`);
  await chat.next((f) => f.includes('"ready"'));
  chat.send({ type: "message", text: `urgent via widget ${SCRIPT}`, name: IMG, client_id: "x1" });
  const ack = JSON.parse(await chat.next((f) => f.includes('"ack"'))) as { id: string };
  await until(async () => (await h.parts.store.existing([ack.id])).get(ack.id)?.published);
  await h.dashboard.settle();

  const pages: [string, string][] = [
    ["feed", await (await admin.get("/dashboard")).text()],
    ["feed search", await (await admin.get(`/dashboard?q=${encodeURIComponent(SCRIPT)}`)).text()],
    ["alerts", await (await admin.get("/dashboard/alerts")).text()],
    ["analytics", await (await admin.get("/dashboard/analytics?range=24h")).text()],
    ["agents", await (await admin.get("/dashboard/agents")).text()],
    ["chat conversation", await (await admin.get(`/dashboard/conversations/${encodeURIComponent(`chat:${publicVisitorId("xss-visitor-1")}`)}`)).text()],
  ];
  for (const { id, conversation_id } of ids) pages.push([conversation_id, await (await admin.get(`/dashboard/conversations/${encodeURIComponent(conversation_id)}?m=${id}`)).text()]);
  for (const [where, html] of pages) assertInert(html, where);

  const feed = pages[0]![1];
  expect(feed).toContain("&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;");
  expect(feed).toContain("&lt;img src=x onerror=alert(1)&gt;");
  expect(pages[3]![1]).toContain("&lt;svg onload=alert(3)&gt;");
  expect(pages[2]![1]).toContain("&lt;img src=x onerror=alert(1)&gt;");

  await until(() => feedSocket.frames.filter((f) => f.includes("feed-row")).length >= 4, 10_000, "live rows");
  for (const f of feedSocket.frames) assertInert(f, "live fragment");
  expect(feedSocket.frames.some((f) => f.includes("&lt;script&gt;"))).toBe(true);
  feedSocket.close();
  chat.close();
});

test("a payload in the search box and the analytics JSON island cannot break out", async () => {
  const page = await (await admin.get(`/dashboard?q=${encodeURIComponent(`"><script>alert(1)</script>`)}`)).text();
  assertInert(page, "search value");
  expect(page).toContain('value="&#34;>');
  const analytics = await (await admin.get("/dashboard/analytics?range=24h")).text();
  const island = analytics.slice(analytics.indexOf('id="analytics-data">'), analytics.indexOf("</script>", analytics.indexOf('id="analytics-data">')));
  expect(island).not.toContain("<");
});
