import { describe, expect, test } from "bun:test";
import { answerSentences, articleName, composeExtractive, firstName, plainText, proseSentences, seeAlsoIndex } from "../../src/llm/extractive.ts";
import { loadReplyTemplates } from "../../src/llm/prompts.ts";

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

describe("extractive composer: a second article when retrieval cannot separate the first two", () => {
  test("the second passage counts when it is another document within the gap of the first's cosine", () => {
    expect(seeAlsoIndex([{ doc_id: "a", score: 0.742 }, { doc_id: "b", score: 0.741 }], 0.015)).toBe(1);
    expect(seeAlsoIndex([{ doc_id: "a", score: 0.742 }, { doc_id: "b", score: 0.727 }], 0.015)).toBe(1);
    expect(seeAlsoIndex([{ doc_id: "a", score: 0.742 }, { doc_id: "b", score: 0.72 }], 0.015)).toBeNull();
    expect(seeAlsoIndex([{ doc_id: "a", score: 0.742 }, { doc_id: "a", score: 0.741 }], 0.015)).toBeNull();
    expect(seeAlsoIndex([{ doc_id: "a", score: 0.742 }, { doc_id: "b", score: null }], 0.015)).toBeNull();
    expect(seeAlsoIndex([{ doc_id: "a", score: 0.742 }, { doc_id: "b", score: 0.742 }], -1)).toBeNull();
    expect(seeAlsoIndex([{ doc_id: "a", score: 0.742 }], 0.015)).toBeNull();
  });

  test("the article is named by its section and page, or its title; a question mark is not followed by a full stop", () => {
    expect(articleName({ title: "Sending money and transfer times", section: "Cancel a payment" })).toBe("Cancel a payment (Sending money and transfer times)");
    expect(articleName({ title: "Cards", section: "Lost > Report a card lost or stolen" })).toBe("Report a card lost or stolen (Cards)");
    expect(articleName({ title: "Can I host my own instance of Trello?", section: "" })).toBe("Can I host my own instance of Trello?");
    const phrases = loadReplyTemplates("v2").phrases.en!;
    const text = composeExtractive({
      phrases,
      company: "Acme",
      query: "can I run trello on my own server",
      passage: { label: "P1", title: "Is it possible to export my data from Trello?", section: "", text: "Use Menu, More, Print and export." },
      seeAlso: { label: "P2", title: "Can I host my own instance of Trello?", section: "", text: "No." },
    });
    expect(text).toContain("Use Menu, More, Print and export. [P1] You may also find this article helpful: Can I host my own instance of Trello? [P2]");
    expect(composeExtractive({ phrases: { ...phrases, see_also: undefined }, company: "Acme", query: "q", passage: { label: "P1", title: "T", section: "", text: "Answer." }, seeAlso: { label: "P2", title: "U", section: "", text: "x" } })).not.toContain("[P2]");
  });
});
