import { describe, expect, test } from "bun:test";
import { extractEntities, ibanValid, luhnValid, redact, restore } from "../../src/ml/entities.ts";

const NOW = "2025-03-12T10:00:00Z"; // a Wednesday

describe("validators", () => {
  test("Luhn accepts real test card numbers and rejects a changed digit", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("5500005555555559")).toBe(true);
    expect(luhnValid("378282246310005")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(luhnValid("1234")).toBe(false);
  });
  test("IBAN mod-97 accepts published examples and rejects a typo or a wrong length", () => {
    expect(ibanValid("GB82 WEST 1234 5698 7654 32")).toBe(true);
    expect(ibanValid("DE89370400440532013000")).toBe(true);
    expect(ibanValid("FR1420041010050500013M02606")).toBe(true);
    expect(ibanValid("GB82 WEST 1234 5698 7654 33")).toBe(false);
    expect(ibanValid("DE8937040044053201300")).toBe(false);
  });
});

describe("extractEntities", () => {
  test("valid card is masked, keeps offsets and brand", () => {
    const text = "My card 4111 1111 1111 1111 was charged twice";
    const [card] = extractEntities(text).filter((e) => e.type === "card_number");
    expect(card).toMatchObject({ value: "**** **** **** 1111", valid: true, meta: { brand: "visa" } });
    expect(text.slice(card!.start, card!.end)).toBe("4111 1111 1111 1111");
    expect(JSON.stringify(extractEntities(text))).not.toContain("4111 1111 1111 1111");
  });
  test("card-shaped number failing Luhn is flagged invalid but still masked; random long digits are not cards", () => {
    const [card] = extractEntities("card 4111-1111-1111-1112 please").filter((e) => e.type === "card_number");
    expect(card).toMatchObject({ valid: false, value: "**** **** **** 1112" });
    expect(extractEntities("tracking 1234567890123456789 here").some((e) => e.type === "card_number")).toBe(false);
  });
  test("IBAN: valid and invalid, masked, country kept", () => {
    const ents = extractEntities("Send it to GB82 WEST 1234 5698 7654 32 not DE89370400440532013001.");
    const ibans = ents.filter((e) => e.type === "iban");
    expect(ibans.map((e) => e.valid)).toEqual([true, false]);
    expect(ibans[0]!.value).toBe("GB** **** ****5432");
    expect(JSON.stringify(ents)).not.toContain("WEST 1234");
  });
  test("account number and sort code after their keywords, masked", () => {
    const text = "account number 12345678, sort code 12-34-56";
    const ents = extractEntities(text);
    expect(ents.find((e) => e.type === "account_number")).toMatchObject({ value: "****5678" });
    expect(text.slice(ents.find((e) => e.type === "account_number")!.start, ents.find((e) => e.type === "account_number")!.end)).toBe("12345678");
    expect(ents.find((e) => e.type === "sort_code")).toMatchObject({ value: "**-**-56" });
  });
  test("amounts with currency symbols, codes and words", () => {
    const ents = extractEntities("I was charged £1,234.50 and then EUR 20 and 15 dollars and €3.5k").filter((e) => e.type === "amount");
    expect(ents.map((e) => e.meta)).toEqual([
      { amount: 1234.5, currency: "GBP" },
      { amount: 20, currency: "EUR" },
      { amount: 15, currency: "USD" },
      { amount: 3500, currency: "EUR" },
    ]);
  });
  test("dates: ISO, day-first, month names and relative to the message time", () => {
    const ents = extractEntities("Paid on 2025-02-28, again 03/03/2025, on 5 March, yesterday and last Friday", { now: NOW }).filter((e) => e.type === "date");
    expect(ents.map((e) => e.value)).toEqual(["2025-02-28", "2025-03-03", "2025-03-05", "2025-03-11", "2025-03-07"]);
  });
  test("email, phone, order numbers and catalogue products", () => {
    const text = "Order #A12345 for the Metal card: reach me at jane.doe@example.com or +44 20 7946 0958.";
    const ents = extractEntities(text, { catalogue: [{ id: "metal", name: "Metal card", aliases: ["metal"] }] });
    const byType = Object.fromEntries(ents.map((e) => [e.type, e]));
    expect(byType.order_number!.value).toBe("A12345");
    expect(byType.product!).toMatchObject({ value: "Metal card", meta: { id: "metal" } });
    expect(byType.email!.value).toBe("j***@example.com");
    expect(byType.phone!.value).toBe("+*********958");
    expect(text.slice(byType.phone!.start, byType.phone!.end)).toBe("+44 20 7946 0958");
  });
  test("no false positives on ordinary banking sentences", () => {
    expect(extractEntities("I am still waiting on my card?")).toEqual([]);
    expect(extractEntities("How long does a transfer take?")).toEqual([]);
  });
});

describe("redact / restore", () => {
  test("typed placeholders, same value same placeholder, restorable", () => {
    const text = "Card 4111 1111 1111 1111 and 5500 0055 5555 5559; again 4111 1111 1111 1111. Mail jane@example.com, order #A12345";
    const { text: red, map } = redact(text, extractEntities(text));
    expect(red).toBe("Card [CARD_1] and [CARD_2]; again [CARD_1]. Mail [EMAIL_1], order #A12345");
    expect(red).not.toContain("4111");
    expect(restore(red, map)).toBe(text);
  });
});
