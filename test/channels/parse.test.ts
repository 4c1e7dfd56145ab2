import { describe, expect, test } from "bun:test";
import { emailConversationId, parseEmail, placeMail, resolveConversation, splitReply } from "../../src/channels/email/parse.ts";
import { stableId } from "../../src/channels/ids.ts";
import { parseCustomerMessage } from "../../src/schema/message.ts";

describe("email parsing without a server", () => {
  test("splitReply: Outlook header block, German Gmail header, inline quotes and the RFC 3676 signature", () => {
    const outlook = splitReply("Please close my account.\n\nRegards\n\n________________________________\nFrom: Support <support@example.test>\nSent: Monday\nTo: me\nSubject: Re: account\n\nOld text");
    expect(outlook.body).toBe("Please close my account.\n\nRegards");
    expect(outlook.quoted).toContain("From: Support");

    const german = splitReply("Danke!\n\nAm Mo., 23. Nov. 2026 um 10:00 Uhr schrieb Support <s@example.test>:\n> alt");
    expect(german.body).toBe("Danke!");

    const wrapped = splitReply("Thanks.\n\nOn Mon, Nov 23, 2026 at 10:00 AM Support Team <\nsupport@example.test> wrote:\n> old");
    expect(wrapped.body).toBe("Thanks.");

    const inline = splitReply("> Did you try again?\nYes, twice.\n> Which card?\nThe Visa one.\n-- \nAnn\n+1 555 0100");
    expect(inline.body).toBe("Yes, twice.\nThe Visa one.");
    expect(inline.quoted).toBe("> Did you try again?\n> Which card?");
    expect(inline.signature).toBe("Ann\n+1 555 0100");

    const plain = splitReply("Just a question about fees.");
    expect(plain).toEqual({ body: "Just a question about fees.", quoted: null, signature: null });
  });

  test("parseEmail: missing Message-ID is synthesized, auto-replies are flagged, odd content types are normalised", async () => {
    const raw = "From: bot@example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nI am away.\r\n--x\r\nContent-Type: weird\r\nContent-Disposition: attachment; filename=a.bin\r\n\r\nzz\r\n--x--\r\n";
    const p = await parseEmail(raw, "fallback-1@host");
    expect(p.messageId).toBe("fallback-1@host");
    expect(p.synthesizedId).toBe(true);
    expect(p.autoSubmitted).toBe(true);
    expect(p.body).toBe("I am away.");
    expect(p.attachments[0]!.name).toBe("a.bin");
    expect(p.attachments[0]!.content_type).toMatch(/^[\w.+-]+\/[\w.+-]+$/);
  });

  test("thread safety: only a participant (or the company's domain) joins a known thread; anyone else starts a linked conversation", () => {
    const known = new Map([["root@x", "email:root@x"]]);
    const who = new Map([["email:root@x", new Set(["ann-index"])]]);
    const mail = (from: string, mid: string) => ({ messageId: mid, inReplyTo: "root@x", references: ["root@x"], from: { address: from, name: null } });
    const place = (from: string, mid: string, sender: string | null) => placeMail(mail(from, mid), (id) => known.get(id), (c) => who.get(c), sender, ["company.test"]);
    expect(place("ann@example.com", "a2@x", "ann-index")).toEqual({ conversationId: "email:root@x", linkedThread: null });
    expect(place("mallory@evil.test", "m1@x", "mallory-index")).toEqual({ conversationId: "email:m1@x", linkedThread: "email:root@x" });
    expect(place("unknown", "u1@x", null)).toEqual({ conversationId: "email:u1@x", linkedThread: "email:root@x" });
    expect(place("Agent@Company.test", "s1@x", "staff-index")).toEqual({ conversationId: "email:root@x", linkedThread: null });
    // A look-alike domain is not the company's.
    expect(place("agent@company.test.evil.test", "s2@x", "x").linkedThread).toBe("email:root@x");
    // A thread with no recorded participant (first seen now) is joined as before.
    expect(placeMail(mail("bo@x.test", "b1@x"), () => undefined, () => undefined, "bo", [])).toEqual({ conversationId: "email:root@x", linkedThread: null });
    // A new mail is its own conversation.
    expect(placeMail({ messageId: "n@x", inReplyTo: null, references: [], from: { address: "z@x.test", name: null } }, () => undefined, () => undefined, "z", [])).toEqual({ conversationId: "email:n@x", linkedThread: null });
  });

  test("threading: parent known → its conversation; unknown parents → the References root; long ids are hashed", () => {
    const known = new Map([["parent@x", "email:root@x"]]);
    expect(resolveConversation({ messageId: "c@x", inReplyTo: "parent@x", references: [] }, (id) => known.get(id))).toBe("email:root@x");
    expect(resolveConversation({ messageId: "c@x", inReplyTo: "p2@x", references: ["r@x", "p2@x"] }, () => undefined)).toBe("email:r@x");
    expect(resolveConversation({ messageId: "c@x", inReplyTo: null, references: [] }, () => undefined)).toBe("email:c@x");
    const long = emailConversationId(`${"a".repeat(300)}@x`);
    expect(long.length).toBeLessThanOrEqual(256);
    expect(long).toBe(emailConversationId(`${"a".repeat(300)}@x`));
  });

  test("stable ids are valid UUIDs the schema accepts, and differ per name", () => {
    const a = stableId("email:one@x");
    expect(a).toBe(stableId("email:one@x"));
    expect(a).not.toBe(stableId("email:two@x"));
    const parsed = parseCustomerMessage({ id: a, source: "email", user: { id: "u" }, message: { text: "hi", attachments: [] }, metadata: { received_at: new Date().toISOString() } });
    expect(parsed.ok).toBe(true);
  });
});
