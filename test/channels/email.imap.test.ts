import { Type } from "@sinclair/typebox";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { EmailProducer, type ImapMailboxOptions } from "../../src/channels/email/imap.ts";
import { stableId } from "../../src/channels/ids.ts";
import type { ChannelStore } from "../../src/channels/store.ts";
import type { Store } from "../../src/db/store.ts";
import { createLogger } from "../../src/obs/log.ts";
import { DEFAULT_LIMITS, type CustomerMessage } from "../../src/schema/message.ts";
import { busWithCollector, channelStore, describeImap, imapOptions, openTestStore, rand, rfc5322, tempMailbox } from "./helpers.ts";

/** The email metadata a producer adds (the schema keeps metadata open). */
type EmailMeta = { conversation_id: string; quoted?: string; signature?: string; email: { message_id: string; subject: string; html_converted: boolean } };
const meta = (m: CustomerMessage) => m.metadata as unknown as EmailMeta;

const log = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");

const options = (mailbox: string, over: Partial<ImapMailboxOptions> = {}) => imapOptions(mailbox, { idle: true, ...over });

describeImap("EmailProducer against Dovecot", () => {
  let db: Store;
  let store: ChannelStore;
  beforeAll(async () => {
    db = await openTestStore();
    store = channelStore(db);
  });
  afterAll(async () => {
    await db?.close();
  });

  test("plain, HTML, attachment, ISO-8859-1 and a threaded reply reach the topic normalised", async () => {
    const box = await tempMailbox("mail");
    const bus = await busWithCollector();
    const tag = rand();
    const producer = new EmailProducer(options(box.path), { publisher: bus.publisher, store, limits: DEFAULT_LIMITS, log });
    try {
      await box.append(
        rfc5322(
          { From: '"Ann Example" <Ann@Example.com>', To: "support@example.test", Subject: "Card declined", "Message-ID": `<plain-${tag}@example.com>`, "Content-Type": "text/plain; charset=utf-8" },
          "Hi,\nmy card was declined at the grocery store today.\nCan you help?\n\n-- \nAnn Example\nACME Corp\n",
        ),
      );
      await box.append(
        rfc5322(
          { From: "Bo <bo@example.org>", To: "support@example.test", Subject: "Refund", "Message-ID": `<html-${tag}@example.org>`, "Content-Type": "text/html; charset=utf-8" },
          `<html><head><style>p{color:red}</style></head><body><p>I want a <b>refund</b> for order #1234.</p><div class="gmail_quote">On Mon, 23 Nov 2026 at 09:00, Support &lt;support@example.test&gt; wrote:<blockquote>Thanks for your order.</blockquote></div></body></html>`,
        ),
      );
      await box.append(
        rfc5322(
          { From: "Cy <cy@example.net>", To: "support@example.test", Subject: "Statement attached", "Message-ID": `<att-${tag}@example.net>`, "Content-Type": 'multipart/mixed; boundary="b1"' },
          [
            "--b1",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "Please see the attached statement, the second line is wrong.",
            "--b1",
            'Content-Type: application/pdf; name="statement.pdf"',
            'Content-Disposition: attachment; filename="statement.pdf"',
            "Content-Transfer-Encoding: base64",
            "",
            Buffer.from("%PDF-1.4 fake statement bytes").toString("base64"),
            "--b1--",
            "",
          ].join("\n"),
        ),
      );
      await box.append(
        Buffer.from(
          rfc5322(
            { From: "=?ISO-8859-1?Q?Ren=E9e_M=FCller?= <renee@example.de>", To: "support@example.test", Subject: "=?ISO-8859-1?Q?K=FCndigung?=", "Message-ID": `<latin-${tag}@example.de>`, "Content-Type": "text/plain; charset=ISO-8859-1", "Content-Transfer-Encoding": "8bit" },
            "Ich möchte mein Konto kündigen. Grüße, René",
          ),
          "latin1",
        ),
      );
      await box.append(
        rfc5322(
          {
            From: '"Ann Example" <ann@example.com>',
            To: "support@example.test",
            Subject: "Re: Card declined",
            "Message-ID": `<reply-${tag}@example.com>`,
            "In-Reply-To": `<support-answer-${tag}@example.test>`,
            References: `<plain-${tag}@example.com> <support-answer-${tag}@example.test>`,
            "Content-Type": "text/plain; charset=utf-8",
          },
          `It happened again just now.\n\nSent from my iPhone\n\nOn Tue, 24 Nov 2026 at 11:00, Support <support@example.test> wrote:\n> Please try again.\n>\n> On Tue, Ann wrote:\n>> my card was declined\n`,
        ),
      );
      producer.start();
      await bus.waitForCount(5);
      await producer.syncNow();
      const msgs = bus.messages();
      expect(msgs).toHaveLength(5);
      const byMid = new Map(msgs.map((m) => [meta(m).email.message_id, m]));

      const plain = byMid.get(`plain-${tag}@example.com`)!;
      expect(plain.source).toBe("email");
      expect(plain.id).toBe(stableId(`email:plain-${tag}@example.com`));
      expect(plain.user).toEqual({ id: "ann@example.com", name: "Ann Example", email: "ann@example.com" });
      expect(plain.message.text).toBe("Hi,\nmy card was declined at the grocery store today.\nCan you help?");
      expect(meta(plain).signature).toBe("Ann Example\nACME Corp");
      expect(plain.metadata.conversation_id).toBe(`email:plain-${tag}@example.com`);
      expect(meta(plain).email.subject).toBe("Card declined");

      const html = byMid.get(`html-${tag}@example.org`)!;
      expect(html.message.text).toBe("I want a refund for order #1234.");
      expect(html.message.text).not.toContain("<");
      expect(String(meta(html).quoted)).toContain("Thanks for your order.");
      expect(meta(html).email.html_converted).toBe(true);

      const att = byMid.get(`att-${tag}@example.net`)!;
      expect(att.message.text).toBe("Please see the attached statement, the second line is wrong.");
      expect(att.message.attachments).toEqual([{ name: "statement.pdf", content_type: "application/pdf", size: "%PDF-1.4 fake statement bytes".length }]);
      expect(JSON.stringify(att)).not.toContain(Buffer.from("%PDF-1.4 fake statement bytes").toString("base64"));

      const latin = byMid.get(`latin-${tag}@example.de`)!;
      expect(latin.message.text).toBe("Ich möchte mein Konto kündigen. Grüße, René");
      expect(latin.user.name).toBe("Renée Müller");
      expect(meta(latin).email.subject).toBe("Kündigung");

      const reply = byMid.get(`reply-${tag}@example.com`)!;
      expect(reply.message.text).toBe("It happened again just now.");
      expect(reply.metadata.conversation_id).toBe(plain.metadata.conversation_id);
      expect(String(meta(reply).quoted)).toContain("> Please try again.");
      expect(meta(reply).signature).toBe("Sent from my iPhone");

      // Records are keyed by conversation so a thread stays ordered on one partition.
      const keys = new Map(bus.records.map((r) => [JSON.parse(r.value).id, r.key]));
      expect(keys.get(reply.id)).toBe(keys.get(plain.id));

      // Processed mail is flagged \Seen in the mailbox.
      const flagged: number[] = [];
      const lock = await box.client.getMailboxLock(box.path);
      try {
        for await (const m of box.client.fetch("1:*", { uid: true, flags: true })) if (m.flags?.has("\\Seen")) flagged.push(m.uid);
      } finally {
        lock.release();
      }
      expect(flagged).toHaveLength(5);
    } finally {
      await producer.stop();
      await bus.close();
      await box.remove();
    }
  });

  test("a stranger replying to a known thread starts a new linked conversation; the customer and company staff join it", async () => {
    const box = await tempMailbox("hijack");
    const bus = await busWithCollector();
    const tag = rand();
    const producer = new EmailProducer(options(box.path), { publisher: bus.publisher, store, limits: DEFAULT_LIMITS, log, companyDomains: ["company.test"] });
    const reply = (from: string, mid: string, text: string) =>
      rfc5322({ From: from, To: "support@company.test", Subject: "Re: Refund", "Message-ID": `<${mid}-${tag}@mail.test>`, "In-Reply-To": `<root-${tag}@example.com>`, References: `<root-${tag}@example.com>`, "Content-Type": "text/plain; charset=utf-8" }, text);
    try {
      await box.append(rfc5322({ From: "Dana <dana@example.com>", To: "support@company.test", Subject: "Refund", "Message-ID": `<root-${tag}@example.com>`, "Content-Type": "text/plain; charset=utf-8" }, "Where is my refund for order 5521?"));
      producer.start();
      await bus.waitForCount(1);
      await producer.syncNow();
      // Later mails arrive in a later batch: participation comes from the stored rows, not only the batch.
      await box.append(reply("Mallory <mallory@evil.test>", "evil", "Please send the refund to my new account instead."));
      await box.append(reply("Dana <DANA@example.com>", "dana2", "Any news?"));
      await box.append(reply("Agent Smith <agent@company.test>", "staff", "Adding a note for the customer."));
      await bus.waitForCount(4);
      await producer.syncNow();
      const byMid = new Map(bus.messages().map((m) => [meta(m).email.message_id, m]));
      const root = `email:root-${tag}@example.com`;
      expect(byMid.get(`root-${tag}@example.com`)!.metadata.conversation_id).toBe(root);
      const evil = byMid.get(`evil-${tag}@mail.test`)!;
      expect(evil.metadata.conversation_id).toBe(`email:evil-${tag}@mail.test`);
      expect((evil.metadata as Record<string, unknown>).linked_thread).toBe(root);
      expect(byMid.get(`dana2-${tag}@mail.test`)!.metadata.conversation_id).toBe(root);
      expect((byMid.get(`dana2-${tag}@mail.test`)!.metadata as Record<string, unknown>).linked_thread).toBeUndefined();
      expect(byMid.get(`staff-${tag}@mail.test`)!.metadata.conversation_id).toBe(root);
      // The stranger's mail is keyed (partitioned) by its own conversation, and its sender is stored only as an index.
      const keys = new Map(bus.records.map((r) => [JSON.parse(r.value).id, r.key]));
      expect(keys.get(evil.id)).toBe(`email:evil-${tag}@mail.test`);
      const known = await store.knownEmails([`evil-${tag}@mail.test`]);
      expect(known.get(`evil-${tag}@mail.test`)?.conversationId).toBe(`email:evil-${tag}@mail.test`);
      const who = await store.threadParticipants([root]);
      expect(who.get(root)?.has(store.senderIndex("dana@example.com"))).toBe(true);
      expect(who.get(root)?.has(store.senderIndex("mallory@evil.test"))).toBe(false);
    } finally {
      await producer.stop();
      await bus.close();
      await box.remove();
    }
  }, 30_000);

  test("a reply that names only its parent in In-Reply-To joins the parent's conversation; a repeated Message-ID is published once", async () => {
    const box = await tempMailbox("thread");
    const bus = await busWithCollector();
    const tag = rand();
    const producer = new EmailProducer(options(box.path, { idle: false, pollMs: 50 }), { publisher: bus.publisher, store, limits: DEFAULT_LIMITS, log });
    try {
      producer.start();
      await box.append(rfc5322({ From: "dee@example.com", Subject: "Login", "Message-ID": `<root-${tag}@example.com>` }, "I cannot log in."));
      await bus.waitForCount(1);
      await box.append(rfc5322({ From: "dee@example.com", Subject: "Re: Login", "Message-ID": `<child-${tag}@example.com>`, "In-Reply-To": `<root-${tag}@example.com>` }, "Still broken."));
      await box.append(rfc5322({ From: "dee@example.com", Subject: "Login", "Message-ID": `<root-${tag}@example.com>` }, "I cannot log in."));
      await box.append(rfc5322({ From: "eve@example.com", Subject: "Other", "Message-ID": `<other-${tag}@example.com>` }, "Unrelated question."));
      await bus.waitForCount(3);
      await producer.syncNow();
      const msgs = bus.messages();
      expect(msgs.map((m) => m.message.text)).toEqual(["I cannot log in.", "Still broken.", "Unrelated question."]);
      expect(msgs[1]!.metadata.conversation_id).toBe(`email:root-${tag}@example.com`);
      expect(msgs[2]!.metadata.conversation_id).toBe(`email:other-${tag}@example.com`);
      expect(producer.stats.duplicates).toBe(1);
    } finally {
      await producer.stop();
      await bus.close();
      await box.remove();
    }
  });

  test("restart resumes from the durable UID checkpoint: a producer cut mid-sync and a new one publish every mail exactly once", async () => {
    const box = await tempMailbox("restart");
    const bus = await busWithCollector();
    const tag = rand();
    const total = 40;
    for (let i = 0; i < total; i++) await box.append(rfc5322({ From: `user${i}@example.com`, Subject: `n${i}`, "Message-ID": `<r${i}-${tag}@example.com>` }, `mail number ${i}`));
    const opts = options(box.path, { batchSize: 4, processed: { mode: "move", mailbox: `${box.path}-done` } });
    const first = new EmailProducer(opts, { publisher: bus.publisher, store, limits: DEFAULT_LIMITS, log, owner: "first" });
    try {
      first.start();
      await bus.waitForCount(10);
      // Cut the connection mid-sync (no logout), then stop the loop without releasing anything gracefully first.
      first.killConnection();
      await first.stop();
      const afterFirst = bus.records.length;
      expect(afterFirst).toBeLessThan(total);
      const checkpoint = await store.readCheckpoint(first.key, Type.Object({ lastUid: Type.Number() }));
      expect(checkpoint!.lastUid).toBeGreaterThanOrEqual(8);

      const second = new EmailProducer(opts, { publisher: bus.publisher, store, limits: DEFAULT_LIMITS, log, owner: "second" });
      second.start();
      await bus.waitForCount(total);
      await second.syncNow();
      await second.stop();
      const texts = bus.messages().map((m) => m.message.text);
      expect(texts).toHaveLength(total);
      expect(new Set(texts).size).toBe(total);
      expect(new Set(bus.messages().map((m) => m.id)).size).toBe(total);
      expect(second.stats.duplicates).toBe(0);
      // Moved out of the source mailbox once processed.
      const status = await box.client.status(box.path, { messages: true });
      expect(status && status.messages).toBe(0);
    } finally {
      await first.stop();
      await bus.close();
      await box.remove();
    }
  });
});
