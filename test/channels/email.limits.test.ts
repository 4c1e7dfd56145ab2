import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { EmailProducer, type ImapMailboxOptions } from "../../src/channels/email/imap.ts";
import { messages, results } from "../../src/db/schema.ts";
import type { Store } from "../../src/db/store.ts";
import { openParts, startService, type Service } from "../../src/runtime.ts";
import { DEFAULT_LIMITS, type CustomerMessage } from "../../src/schema/message.ts";
import { testConfig, testLog, waitFor } from "../support/env.ts";
import { busWithCollector, channelStore, describeImap, imap, imapOptions, openTestStore, rand, rfc5322, tempMailbox } from "./helpers.ts";

const options = (mailbox: string, over: Partial<ImapMailboxOptions> = {}) => imapOptions(mailbox, { idle: false, ...over });

type EmailMeta = { sanitized?: string[]; email: { oversized?: { size: number; limit: number; text_only: boolean } } };
const meta = (m: CustomerMessage) => m.metadata as unknown as EmailMeta;

describeImap("email edge cases against Dovecot", () => {
  let db: Store;
  beforeAll(async () => {
    db = await openTestStore();
  });
  afterAll(async () => {
    await db?.close();
  });

  test("a NUL byte in an email lands as a processed message (sanitized, recorded in metadata)", async () => {
    const box = await tempMailbox("nul");
    const tag = rand();
    let svc: Service | null = null;
    try {
      // The NUL travels base64-encoded (a raw NUL is not allowed in an IMAP literal); mailparser decodes it into the text.
      await box.append(
        rfc5322(
          { From: "Nia <nia@example.com>", To: "support@example.test", Subject: "nul", "Message-ID": `<nul-${tag}@example.com>`, "Content-Type": "text/plain; charset=utf-8", "Content-Transfer-Encoding": "base64" },
          Buffer.from(`hello\u0000 there, my card ${tag} is blocked\u0007`).toString("base64"),
        ),
      );
      const config = testConfig({ IMAP_HOST: imap!.host, IMAP_PORT: String(imap!.port), IMAP_SECURE: "false", IMAP_USER: imap!.user, IMAP_PASSWORD: imap!.password, IMAP_MAILBOXES: box.path, IMAP_IDLE: "false", IMAP_POLL_SECONDS: "1" });
      svc = await startService(await openParts(config), []);
      const store = svc.parts.store;
      // Message text is sealed at rest (src/privacy): read it back through the store's cipher.
      const text = (m: { text: string }) => store.cipher.open(m.text, "messages.text");
      const row = await waitFor(async () => (await store.db.select().from(messages)).find((m) => text(m).includes(tag)), 30_000, "the email's message row");
      expect(text(row)).toBe(`hello there, my card ${tag} is blocked`);
      expect((row.metadata as { sanitized?: string[] }).sanitized).toEqual(["message.text: 2 control characters removed"]);
      const result = await waitFor(async () => (await store.db.select().from(results).where(eq(results.messageId, row.id)))[0], 15_000, "its result");
      expect(result.messageId).toBe(row.id);
    } finally {
      await svc?.stop();
      await box.remove();
    }
  }, 60_000);

  test("an oversized mail becomes its text part plus the attachment list; sources are read in chunks under the byte limit", async () => {
    const box = await tempMailbox("big");
    const bus = await busWithCollector();
    const tag = rand();
    const producer = new EmailProducer(options(box.path, { maxMessageBytes: 40_000 }), { publisher: bus.publisher, store: channelStore(db), limits: DEFAULT_LIMITS, log: testLog });
    try {
      const blob = Buffer.alloc(120_000, 7).toString("base64").replace(/.{76}/g, "$&\n");
      await box.append(
        rfc5322(
          { From: "Big <big@example.com>", To: "support@example.test", Subject: "statement", "Message-ID": `<big-${tag}@example.com>`, "Content-Type": 'multipart/mixed; boundary="b1"' },
          ["--b1", "Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: quoted-printable", "", `Ol=E9, see the attached scans ${tag}.`, "--b1", 'Content-Type: image/png; name="scan.png"', 'Content-Disposition: attachment; filename="scan.png"', "Content-Transfer-Encoding: base64", "", blob, "--b1--", ""].join("\n"),
        ),
      );
      for (let i = 0; i < 3; i++) {
        await box.append(rfc5322({ From: "Sm <sm@example.com>", Subject: `small ${i}`, "Message-ID": `<small-${i}-${tag}@example.com>`, "Content-Type": "text/plain" }, `small mail ${i} ${"x".repeat(15_000)}`));
      }
      producer.start();
      await producer.syncNow();
      await bus.waitForCount(4);
      const big = bus.messages().find((m) => m.message.text.includes(tag))!;
      expect(big.message.text).toBe(`Olé, see the attached scans ${tag}.`);
      expect(big.message.attachments).toEqual([{ name: "scan.png", content_type: "image/png", size: expect.any(Number) }]);
      expect(big.message.attachments[0]!.size).toBeGreaterThan(150_000);
      expect(meta(big).email.oversized).toEqual({ size: expect.any(Number), limit: 40_000, text_only: true });
      expect(meta(big).email.oversized!.size).toBeGreaterThan(40_000);
      expect(bus.messages().filter((m) => m.message.text.startsWith("small mail")).length).toBe(3);
      // 3 × ~15 KB small mails under a 40 KB budget: at least two chunks, each committed on its own.
      expect(producer.stats.batches).toBeGreaterThanOrEqual(2);
    } finally {
      await producer.stop();
      await bus.close();
      await box.remove();
    }
  }, 60_000);
});
