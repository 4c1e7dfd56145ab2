import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ingest, signIn, startHarness, type Client, type Harness } from "./harness.ts";

/** The conversation page shows its own thread only, and links the customer's other conversations separately. */
let h: Harness;
let agent: Client;

beforeAll(async () => {
  h = await startHarness();
  agent = await signIn(h, "agent");
}, 60_000);
afterAll(async () => {
  await h.stop();
});

const threadIds = (html: string) => [...(html.split('id="thread"')[1] ?? "").split("</ol>")[0]!.matchAll(/<li id="bubble-([0-9a-f-]{36})"/g)].map((m) => m[1]);
const otherLinks = (html: string) => [...(html.split('id="others-title"')[1] ?? "").matchAll(/href="\/dashboard\/conversations\/([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!));

describe("conversation page", () => {
  const mail = { source: "email", user: { id: "dora@example.com", name: "Dora Dunn", email: "dora@example.com" } };
  let first: { id: string; conversation_id: string };
  let firstFollowUp: { id: string; conversation_id: string };
  let second: { id: string; conversation_id: string };
  let chat: { id: string; conversation_id: string };
  let stranger: { id: string; conversation_id: string };

  beforeAll(async () => {
    first = await ingest(h, { ...mail, message: { text: "My debit card was declined at the supermarket" }, metadata: { conversation_id: "email:<thread-1@example.com>" } });
    firstFollowUp = await ingest(h, { ...mail, message: { text: "Still declined this morning, please check" }, metadata: { conversation_id: "email:<thread-1@example.com>" } });
    second = await ingest(h, { ...mail, message: { text: "Separate question: how do I order a new chequebook?" }, metadata: { conversation_id: "email:<thread-2@example.com>" } });
    chat = await ingest(h, { source: "chat", user: { id: "visitor-dora", name: "Dora Dunn", email: "dora@example.com" }, message: { text: "Hi, I mailed you about my card" } });
    stranger = await ingest(h, { source: "email", user: { id: "eve@example.com", name: "Eve", email: "eve@example.com" }, message: { text: "Unrelated mail" } });
  }, 60_000);

  test("shows the messages of that conversation id only", async () => {
    const html = await (await agent.get(`/dashboard/conversations/${encodeURIComponent(first.conversation_id)}`)).text();
    expect(first.conversation_id).toBe("email:<thread-1@example.com>");
    expect(threadIds(html)).toEqual([first.id, firstFollowUp.id]);
    expect(html).not.toContain("chequebook");
  });

  test("lists the same customer's other conversations, across channels, each linked, and nobody else's", async () => {
    const html = await (await agent.get(`/dashboard/conversations/${encodeURIComponent(first.conversation_id)}`)).text();
    expect(html).toContain("Other conversations of this customer");
    const links = otherLinks(html);
    expect(links.sort()).toEqual([chat.conversation_id, second.conversation_id].sort());
    expect(links).not.toContain(stranger.conversation_id);
    expect(links).not.toContain(first.conversation_id);

    const other = await (await agent.get(`/dashboard/conversations/${encodeURIComponent(second.conversation_id)}`)).text();
    expect(threadIds(other)).toEqual([second.id]);
    expect(otherLinks(other)).toContain(first.conversation_id);
  });

  test("a customer with a single conversation gets an empty list", async () => {
    const html = await (await agent.get(`/dashboard/conversations/${encodeURIComponent(stranger.conversation_id)}`)).text();
    expect(threadIds(html)).toEqual([stranger.id]);
    expect(otherLinks(html)).toEqual([]);
    expect(html.split('id="others-title"')[1]).toContain("None.");
  });
});
