import { Type } from "@sinclair/typebox";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SocialPoller } from "../../src/channels/social/poller.ts";
import { RateLimited } from "../../src/channels/social/types.ts";
import { XClient, XDirectMessagesSource, XMentionsSource, XReplier } from "../../src/channels/social/x.ts";
import type { ChannelStore } from "../../src/channels/store.ts";
import type { Store } from "../../src/db/store.ts";
import { createLogger } from "../../src/obs/log.ts";
import { DEFAULT_LIMITS } from "../../src/schema/message.ts";
import { startFakeX } from "./fake-x.ts";
import { busWithCollector, channelStore, openTestStore, rand } from "./helpers.ts";

const log = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");

describe("X API v2 adapter (against a local server implementing the documented endpoints)", () => {
  let db: Store;
  let store: ChannelStore;
  beforeAll(async () => {
    db = await openTestStore();
    store = channelStore(db);
  });
  afterAll(async () => {
    await db?.close();
  });

  function setup() {
    const userId = String(1000 + Math.floor(Math.random() * 1e6));
    const fake = startFakeX({ token: "tok-test", userId });
    fake.addUser("11", "ann_ex", "Ann Example");
    fake.addUser("22", "bob", "Bob");
    const client = new XClient({ baseUrl: fake.url, bearerToken: "tok-test", userId, intervalMs: 60_000, maxResults: 5, maxPages: 20 });
    return { fake, client, userId };
  }

  test("mentions: first poll takes the newest page, later polls page through everything after since_id, oldest first, once", async () => {
    const { fake, client } = setup();
    const bus = await busWithCollector();
    const source = new XMentionsSource(client);
    const poller = new SocialPoller([source], { publisher: bus.publisher, store, limits: DEFAULT_LIMITS, log, owner: `t-${rand()}` });
    try {
      for (let i = 0; i < 7; i++) fake.mention(i % 2 ? "11" : "22", `@support old ${i}`);
      const first = await poller.pollOnce(source);
      expect(first.published).toBe(5);
      await bus.waitForCount(5);
      expect(bus.messages().map((m) => m.message.text)).toEqual(["@support old 2", "@support old 3", "@support old 4", "@support old 5", "@support old 6"]);

      const created = Array.from({ length: 12 }, (_, i) => fake.mention("11", `@support new ${i}`, i < 3 ? "conv-A" : undefined));
      const second = await poller.pollOnce(source);
      expect(second.published).toBe(12);
      expect(second.cursor).toBe(created[11]!.id);
      await bus.waitForCount(17);
      expect(bus.messages().slice(5).map((m) => m.message.text)).toEqual(created.map((c) => c.text));
      const mentionCalls = fake.calls.filter((u) => u.pathname.endsWith("/mentions"));
      // Three pages of 5, 5 and 2 for the second poll, all with the saved since_id.
      expect(mentionCalls.slice(1).map((u) => [u.searchParams.get("since_id"), u.searchParams.get("pagination_token")])).toEqual([
        [first.cursor, null],
        [first.cursor, "tok-5"],
        [first.cursor, "tok-10"],
      ]);

      const m = bus.messages()[5]!;
      expect(m.source).toBe("social");
      expect(m.user).toEqual({ id: "x:11", name: "Ann Example" });
      expect(m.metadata.conversation_id).toBe("social:x:conv-A");
      expect((m.metadata as unknown as { social: Record<string, unknown> }).social).toMatchObject({ network: "x", kind: "mention", post_id: created[0]!.id, author_handle: "ann_ex" });

      const third = await poller.pollOnce(source);
      expect(third.published).toBe(0);
      expect(fake.calls.at(-1)!.searchParams.get("since_id")).toBe(created[11]!.id);
    } finally {
      fake.stop();
      await bus.close();
    }
  });

  test("429 with x-rate-limit-reset: the poll reports the reset time, keeps the cursor, and nothing is skipped or doubled", async () => {
    const { fake, client } = setup();
    const bus = await busWithCollector();
    const source = new XMentionsSource(client);
    const poller = new SocialPoller([source], { publisher: bus.publisher, store, limits: DEFAULT_LIMITS, log, owner: `t-${rand()}` });
    try {
      fake.mention("11", "seed");
      const seed = await poller.pollOnce(source);
      for (let i = 0; i < 8; i++) fake.mention("22", `burst ${i}`);
      // One call left: page 1 succeeds, page 2 gets 429 → the whole poll is retried later from the same since_id.
      fake.quota.remaining = 1;
      fake.quota.resetAt = Math.floor(Date.now() / 1000) + 120;
      const err = await poller.pollOnce(source).catch((e) => e);
      expect(err).toBeInstanceOf(RateLimited);
      expect((err as RateLimited).resetAt).toBe(fake.quota.resetAt * 1000);
      expect(await store.readCheckpoint(SocialPoller.key(source), Type.Object({ cursor: Type.Union([Type.String(), Type.Null()]) }))).toEqual({ cursor: seed.cursor });
      expect(bus.records.length).toBe(1);

      // Quota spent exactly on the last call: a success that tells the poller to wait for the reset.
      fake.quota.remaining = 2;
      const ok = await poller.pollOnce(source);
      expect(ok.published).toBe(8);
      expect(ok.waitUntil).toBe(fake.quota.resetAt * 1000);
      await bus.waitForCount(9);
      expect(new Set(bus.messages().map((m) => m.id)).size).toBe(9);
    } finally {
      fake.stop();
      await bus.close();
    }
  });

  test("DMs: pages newest-first down to the last seen event, skips the account's own messages, replies go to the DM conversation", async () => {
    const { fake, client, userId } = setup();
    const bus = await busWithCollector();
    const source = new XDirectMessagesSource(client);
    const poller = new SocialPoller([source], { publisher: bus.publisher, store, limits: DEFAULT_LIMITS, log, owner: `t-${rand()}` });
    try {
      fake.dm("11", "hello, my transfer is stuck", "11-" + userId);
      await poller.pollOnce(source);
      fake.dm(userId, "we are looking", "11-" + userId);
      for (let i = 0; i < 6; i++) fake.dm("22", `dm ${i}`, "22-" + userId);
      const out = await poller.pollOnce(source);
      expect(out.published).toBe(6);
      await bus.waitForCount(7);
      const msgs = bus.messages();
      expect(msgs.map((m) => m.message.text)).toEqual(["hello, my transfer is stuck", ...Array.from({ length: 6 }, (_, i) => `dm ${i}`)]);
      expect(msgs[1]!.metadata.conversation_id).toBe(`social:x:22-${userId}`);

      const replier = new XReplier(client);
      const sent = await replier.reply({ network: "x", kind: "dm", postId: "x", thread: `22-${userId}`, authorId: "22" }, "We fixed it.");
      expect(sent.externalId).toBeTruthy();
      expect(fake.posted.at(-1)).toEqual({ path: `/2/dm_conversations/22-${userId}/messages`, body: { text: "We fixed it." } });
      await replier.reply({ network: "x", kind: "mention", postId: "12345", thread: "12345", authorId: "11" }, "Sorry about that!");
      expect(fake.posted.at(-1)).toEqual({ path: "/2/tweets", body: { text: "Sorry about that!", reply: { in_reply_to_tweet_id: "12345" } } });
    } finally {
      fake.stop();
      await bus.close();
    }
  });

  test("a wrong token is a non-retriable error, not a silent empty poll", async () => {
    const { fake, userId } = setup();
    try {
      const bad = new XMentionsSource(new XClient({ baseUrl: fake.url, bearerToken: "wrong", userId, intervalMs: 1000, maxResults: 5, maxPages: 2 }));
      const err = await bad.poll(null, new AbortController().signal).catch((e) => e);
      expect(err.code).toBe("x_error");
      expect(err.retriable).toBe(false);
    } finally {
      fake.stop();
    }
  });
});
