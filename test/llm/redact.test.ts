import { describe, expect, test } from "bun:test";
import { detectPii, Redactor, restore, spansFromEntities, StreamRestorer } from "../../src/agents/response/redact.ts";

const MSG = "Hi, my card 4111 1111 1111 1111 was charged twice. Email me at jane.doe@example.com or call +44 20 7946 0958. IBAN GB82 WEST 1234 5698 7654 32, account number 12345678.";

describe("PII redaction", () => {
  test("cards, IBANs, emails, phones and account numbers become typed placeholders; no raw value remains", () => {
    const r = new Redactor();
    const out = r.redact(MSG);
    expect(out).toContain("[CARD_1]");
    expect(out).toContain("[EMAIL_1]");
    expect(out).toContain("[PHONE_1]");
    expect(out).toContain("[IBAN_1]");
    expect(out).toContain("[ACCOUNT_1]");
    for (const raw of ["4111", "jane.doe", "7946", "GB82", "12345678"]) expect(out).not.toContain(raw);
    expect(r.summary()).toEqual({ card_number: 1, email: 1, phone: 1, iban: 1, account_number: 1 });
  });

  test("round trip: email and phone come back verbatim, financial identifiers only masked", () => {
    const r = new Redactor();
    r.redact(MSG);
    const reply = "We refunded [CARD_1]. We will write to [EMAIL_1] and call [PHONE_1]; the transfer goes to [IBAN_1] from [ACCOUNT_1].";
    const back = restore(reply, r.map);
    expect(back).toContain("jane.doe@example.com");
    expect(back).toContain("+44 20 7946 0958");
    expect(back).toContain("**** 1111");
    expect(back).not.toContain("4111 1111 1111 1111");
    expect(back).toContain("GB** **** 5432");
    expect(back).toContain("****5678");
  });

  test("the same value keeps one placeholder across texts; an invented placeholder becomes a neutral phrase", () => {
    const r = new Redactor();
    const a = r.redact("write to a@b.io");
    const b = r.redact("I said a@b.io, not c@d.io");
    expect(a).toBe("write to [EMAIL_1]");
    expect(b).toBe("I said [EMAIL_1], not [EMAIL_2]");
    expect(restore("card [CARD_7]", r.map)).toBe("card your card");
  });

  test("entity worker offsets are used (even for values the local detectors would miss)", () => {
    const text = "my acct is ZX-99-1234 thanks";
    const spans = spansFromEntities({ entities: [{ type: "account_number", value: "****1234", start: 11, end: 21 }, { type: "amount", start: 0, end: 2 }, { type: "email", start: 500, end: 510 }] }, text);
    expect(spans).toEqual([{ type: "account_number", start: 11, end: 21 }]);
    const r = new Redactor();
    expect(r.redact(text, spans)).toBe("my acct is [ACCOUNT_1] thanks");
  });

  test("a Luhn-invalid 16-digit grouped number is still treated as a card; order numbers are left alone", () => {
    expect(detectPii("card 1234 5678 9012 3456").map((s) => s.type)).toEqual(["card_number"]);
    expect(detectPii("order #A-10023 arrived")).toEqual([]);
  });

  test("stream restorer never emits half a placeholder", () => {
    const r = new Redactor();
    r.redact("mail x@y.com");
    const s = new StreamRestorer(r.map);
    const parts = ["We will email ", "[EM", "AIL", "_1] today", " [P1]."].map((d) => s.push(d));
    parts.push(s.flush());
    expect(parts.join("")).toBe("We will email x@y.com today [P1].");
    expect(parts.some((p) => p.includes("[EM"))).toBe(false);
  });
});
