import { describe, expect, test } from "bun:test";
import { answerPart, draftAnswerF1, tokenF1 } from "../../scripts/llm/draft-overlap.ts";

describe("answer overlap (compare:drafts)", () => {
  test("token-F1 counts shared words once each, case-insensitively", () => {
    expect(tokenF1("Use tildes around the words", "use ~~tildes~~ around words")).toBeCloseTo((2 * (4 / 5) * (4 / 4)) / (4 / 5 + 1), 6);
    expect(tokenF1("the the the", "the cat")).toBeCloseTo((2 * (1 / 3) * (1 / 2)) / (1 / 3 + 1 / 2), 6);
    expect(tokenF1("", "x")).toBe(0);
    expect(tokenF1("a b", "c d")).toBe(0);
  });

  test("a draft is scored against the gold thread's best-matching answer", () => {
    expect(draftAnswerF1("Go to Settings and delete the account", ["Facebook is a megalomaniac.", "Go to Settings, then delete the account."])).toBeCloseTo(tokenF1("Go to Settings and delete the account", "Go to Settings, then delete the account."), 6);
    expect(draftAnswerF1("anything", [])).toBe(0);
  });

  test("the answer part drops the composer's fixed greeting, next step and sign-off in any language", () => {
    const draft = "Hi Emma,\n\nThanks for getting in touch. Use two tildes. [P1]\n\nIf this doesn't fully answer your question, just reply to this message and we'll take it from there.\n\nKind regards,\nThe Northwind Bank team";
    expect(answerPart(draft)).toBe("Use two tildes. [P1]");
    expect(answerPart("Bonjour Léa,\n\nMerci de nous avoir contactés. Oui.\n\nCordialement,\nL'équipe X")).toBe("Oui.");
  });
});
