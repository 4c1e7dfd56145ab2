import { describe, expect, test } from "bun:test";
import { mkdtempSync, cpSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { focusPassage } from "../../src/agents/response/focus.ts";
import { leadSentences } from "../../src/llm/extractive.ts";
import { loadReplyTemplates, PROMPTS_DIR } from "../../src/llm/prompts.ts";

const FEES =
  "Our standard account has no monthly fee. Card payments in pounds are free. Statements are free to download.\n" +
  "Cash withdrawals abroad cost 2% of the amount, at least £1. Card payments abroad in other currencies are free.\n" +
  "Premium accounts cost £15 a month and include travel insurance.";

describe("focusPassage", () => {
  test("text within the budget is returned unchanged", () => {
    expect(focusPassage("Freeze the card in the app.", "lost card", 300)).toBe("Freeze the card in the app.");
  });

  test("keeps the run of sentences that matches the message, marks both cuts, stays within the budget", () => {
    const out = focusPassage(FEES, "How much does it cost to withdraw cash abroad?", 110);
    expect(out).toContain("Cash withdrawals abroad cost 2% of the amount, at least £1.");
    expect(out).not.toContain("monthly fee");
    expect(out.startsWith("… ")).toBe(true);
    expect(out.replace(/^… | …$/g, "").length).toBeLessThanOrEqual(110);
    // The extractive fallback quotes the trimmed passage without the cut marks.
    expect(leadSentences(out)).toStartWith("Cash withdrawals abroad");
  });

  test("with no overlap the opening sentences are kept (the passage's gist)", () => {
    const out = focusPassage(FEES, "zzz qqq", 90);
    expect(out.startsWith("Our standard account has no monthly fee.")).toBe(true);
    expect(out.endsWith(" …")).toBe(true);
  });

  test("a single sentence longer than the budget is cut", () => {
    const out = focusPassage(`${"word ".repeat(100)}end.`, "word", 50);
    expect(out.length).toBe(50);
    expect(out.endsWith("…")).toBe(true);
  });
});

describe("reply templates", () => {
  test("v1 and v2 load; v2 carries the conversation as one optional {{memory}} block", () => {
    expect(loadReplyTemplates("v1").user).toContain("{{summary}}");
    const v2 = loadReplyTemplates("v2");
    expect(v2.id).toBe("reply/v2");
    expect(v2.user).toContain("{{memory}}");
    expect(v2.user).not.toContain("{{summary}}");
  });

  test("a user template with both {{memory}} and {{summary}} + {{history}} is rejected", () => {
    const dir = mkdtempSync(join(tmpdir(), "prompts-"));
    try {
      cpSync(join(PROMPTS_DIR, "reply/v2"), join(dir, "reply/bad"), { recursive: true });
      writeFileSync(join(dir, "reply/bad/user.md"), "{{intent}} {{guidance}} {{memory}} {{summary}} {{history}} {{passages}} {{message}}");
      expect(() => loadReplyTemplates("bad", dir)).toThrow(/exactly one of/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
