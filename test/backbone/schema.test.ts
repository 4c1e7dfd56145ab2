import { describe, expect, test } from "bun:test";
import { conversationIdOf, parseCustomerMessage } from "../../src/schema/message.ts";
import { sampleMessage } from "../support/env.ts";

const paths = (raw: unknown, limits?: { maxTextChars: number; maxAttachments: number }) => {
  const r = parseCustomerMessage(raw, limits);
  if (r.ok) return [];
  return (r.error.details as { path: string }[]).map((d) => d.path);
};

describe("customer message schema", () => {
  test("accepts a valid message and normalises text (trim + NFC)", () => {
    const r = parseCustomerMessage(sampleMessage({ message: { text: "  Cafe\u0301 card  ", attachments: [] } }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.message.text).toBe("Caf\u00e9 card");
  });

  test("every field rule yields an error on its own path", () => {
    expect(paths(sampleMessage({ id: "123" }))).toEqual(["/id"]);
    expect(paths(sampleMessage({ source: "fax" }))).toEqual(["/source"]);
    expect(paths(sampleMessage({ user: { name: "x" } }))).toEqual(["/user/id"]);
    expect(paths(sampleMessage({ user: { id: "u", email: "not-an-email" } }))).toEqual(["/user/email"]);
    expect(paths(sampleMessage({ message: { text: "   ", attachments: [] } }))).toEqual(["/message/text"]);
    expect(paths(sampleMessage({ message: { text: "hi" } }))).toEqual(["/message/attachments"]);
    expect(paths(sampleMessage({ metadata: {} }))).toEqual(["/metadata/received_at"]);
    expect(paths(sampleMessage({ metadata: { received_at: "yesterday" } }))).toEqual(["/metadata/received_at"]);
    expect(paths(sampleMessage({ extra: 1 }))).toEqual(["/extra"]);
  });

  test("wrong types are reported, not coerced", () => {
    expect(paths(sampleMessage({ message: { text: 42, attachments: [] } }))).toEqual(["/message/text"]);
    expect(paths(sampleMessage({ user: "bob" }))).toContain("/user");
    expect(paths("not an object")).toContain("/");
  });

  test("size limits: oversize text, too many attachments, huge metadata", () => {
    const limits = { maxTextChars: 100, maxAttachments: 2 };
    expect(paths(sampleMessage({ message: { text: "x".repeat(101), attachments: [] } }), limits)).toEqual(["/message/text"]);
    const att = { name: "a.pdf", content_type: "application/pdf", size: 10 };
    expect(paths(sampleMessage({ message: { text: "hi", attachments: [att, att, att] } }), limits)).toEqual(["/message/attachments"]);
    expect(paths(sampleMessage({ message: { text: "hi", attachments: [{ ...att, size: -1 }] } }))).toEqual(["/message/attachments/0/size"]);
    expect(paths(sampleMessage({ metadata: { received_at: new Date().toISOString(), blob: "x".repeat(20_000) } }))).toEqual(["/metadata"]);
  });

  test("conversation id comes from metadata or channel + user", () => {
    const a = parseCustomerMessage(sampleMessage({ metadata: { received_at: new Date().toISOString(), conversation_id: "email:thread-9" } }));
    const b = parseCustomerMessage(sampleMessage());
    expect(a.ok && conversationIdOf(a.value)).toBe("email:thread-9");
    expect(b.ok && conversationIdOf(b.value)).toBe("chat:cust-1");
  });
});
