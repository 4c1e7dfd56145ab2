import { describe, expect, test } from "bun:test";
import { answerSentences, firstName, plainText, proseSentences } from "../../src/llm/extractive.ts";

const DECLINED = `---
title: Why was my card declined?
---

# Why was my card declined?

A card payment can be declined for several reasons. Check these in order:

- **The card is frozen** — look for the frozen badge under Cards.
- **Spending limit reached** — daily limits are £5,000 for card payments and £500 for cash
  withdrawals.
- **Wrong PIN** — after three wrong attempts the PIN is blocked. Unblock it at any Northwind cash machine using
  PIN services, or reset it in the app under Cards.

| Payment type | Arrives |
|---|---|
| Faster Payment (UK) | within 2 hours |

## Closing your account

You can close your account at any time in the app.
`;

describe("extractive composer: sentence selection", () => {
  test("plain text: front matter, headings and table headers go; hard-wrapped lines and list items become whole sentences", () => {
    const p = plainText(DECLINED).split("\n");
    expect(p).toContain("Spending limit reached — daily limits are £5,000 for card payments and £500 for cash withdrawals.");
    expect(p).toContain("Faster Payment (UK), within 2 hours.");
    expect(p.join(" ")).not.toContain("title:");
    expect(p.join(" ")).not.toContain("Payment type");
    expect(p.join(" ")).not.toContain("**");
  });

  test("quotes the sentence that answers and what continues it in the same item, nothing from other items or sections", () => {
    const q = answerSentences(DECLINED, "I entered the wrong PIN three times and now my card is blocked. What do I do?");
    expect(q).toBe("Wrong PIN — after three wrong attempts the PIN is blocked. Unblock it at any Northwind cash machine using PIN services, or reset it in the app under Cards.");
    expect(answerSentences(DECLINED, "how do I close my account?")).toBe("You can close your account at any time in the app.");
    // No overlap at all: the opening sentence, never the whole passage.
    expect(answerSentences(DECLINED, "zzz qqq")).toBe("A card payment can be declined for several reasons.");
  });

  test("sentences end at a stop before a space, so amounts, versions and URLs stay whole", () => {
    expect(proseSentences("It costs £1.50 per withdrawal. See https://help.example.com/fees.html for more! Done?")).toEqual(["It costs £1.50 per withdrawal.", "See https://help.example.com/fees.html for more!", "Done?"]);
    expect(proseSentences('He said "stop." Then left.')).toEqual(['He said "stop."', "Then left."]);
  });

  test("a first name only when it looks like one", () => {
    expect(firstName("Emma Dubois")).toBe("Emma");
    expect(firstName("émile")).toBeNull();
    expect(firstName("Jean-Luc Picard")).toBe("Jean-Luc");
    expect(firstName("ACME GmbH | +49 30")).toBeNull();
    expect(firstName("support@example.com")).toBeNull();
    expect(firstName(undefined)).toBeNull();
  });
});
