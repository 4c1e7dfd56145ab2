import { describe, expect, test } from "bun:test";
import { chunkDoc, htmlToMarkdown, parseMarkdown } from "../../src/rag/chunker.ts";
import type { SourceDoc } from "../../src/rag/types.ts";

const doc = (text: string, format: SourceDoc["format"] = "markdown"): SourceDoc => ({ id: "kb/guide", title: "Guide", text, format, source: "kb/guide.md", origin: "/kb" });
const opts = { maxChars: 400, overlapChars: 120 };

const TRICKY = `---
title: Guide
url: https://example.test/guide
---
# Guide

Intro paragraph about the product.

## Install

Run the installer:

\`\`\`bash
# this is a comment, not a heading
npm install thing
\`\`\`

## Limits

| Plan | Limit |
|---|---|
| Free | 10 |
| Pro | 100 |

Setext heading
--------------

- first item
- second item
  continued line
`;

describe("markdown parsing", () => {
  test("headings inside fenced code are code, tables and lists stay whole, setext headings count", () => {
    const { title, sections } = parseMarkdown(TRICKY.replace(/^---[\s\S]*?---\n/, ""));
    expect(title).toBe("Guide");
    expect(sections.map((s) => s.path.join(" > "))).toEqual(["", "Install", "Limits", "Setext heading"]);
    const install = sections[1]!;
    expect(install.blocks.map((b) => b.kind)).toEqual(["para", "code"]);
    expect(install.blocks[1]!.text).toContain("# this is a comment, not a heading");
    expect(sections[2]!.blocks).toEqual([{ kind: "table", text: "| Plan | Limit |\n|---|---|\n| Free | 10 |\n| Pro | 100 |" }]);
    expect(sections[3]!.blocks[0]!.kind).toBe("list");
    expect(sections[3]!.blocks[0]!.text).toContain("continued line");
  });

  test("an unterminated fence runs to the end and is closed", () => {
    const { sections } = parseMarkdown("## A\n\n```\ncode\n# not heading");
    expect(sections).toHaveLength(1);
    expect(sections[0]!.blocks[0]!.text).toBe("```\ncode\n# not heading\n```");
  });
});

describe("chunking", () => {
  test("chunks carry section paths, stable ids and content hashes; code fences are never cut open", () => {
    const chunks = chunkDoc(doc(TRICKY), opts);
    expect(chunks.map((c) => c.section)).toEqual(["", "Install", "Limits", "Setext heading"]);
    expect(chunks.map((c) => c.id)).toEqual(["kb/guide#_:0", "kb/guide#install:0", "kb/guide#limits:0", "kb/guide#setext-heading:0"]);
    for (const c of chunks) expect(c.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(chunkDoc(doc(TRICKY), opts)).toEqual(chunks);
  });

  test("a long section splits at sentences with overlap, each chunk within the size", () => {
    const sents = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} explains one more detail of the refund policy.`);
    const chunks = chunkDoc(doc(`## Refunds\n\n${sents.join(" ")}`), opts);
    expect(chunks.length).toBeGreaterThan(4);
    for (const c of chunks) expect(c.text.length).toBeLessThanOrEqual(opts.maxChars);
    expect(chunks.map((c) => c.id)).toEqual(chunks.map((_, i) => `kb/guide#refunds:${i}`));
    for (let i = 1; i < chunks.length; i++) {
      const lastOfPrev = chunks[i - 1]!.text.split(/(?<=\.)\s/).pop()!;
      expect(chunks[i]!.text.startsWith(lastOfPrev)).toBe(true);
    }
    const all = chunks.map((c) => c.text).join(" ");
    for (const s of sents) expect(all).toContain(s);
  });

  test("a long code block splits by lines and every piece keeps its fences; a long table repeats its header", () => {
    const code = "```ts\n" + Array.from({ length: 60 }, (_, i) => `const value${i} = compute(${i});`).join("\n") + "\n```";
    const table = "| id | name |\n|---|---|\n" + Array.from({ length: 50 }, (_, i) => `| ${i} | row number ${i} |`).join("\n");
    const chunks = chunkDoc(doc(`## Code\n\n${code}\n\n## Table\n\n${table}`), opts);
    const codeChunks = chunks.filter((c) => c.section === "Code");
    const tableChunks = chunks.filter((c) => c.section === "Table");
    expect(codeChunks.length).toBeGreaterThan(1);
    expect(tableChunks.length).toBeGreaterThan(1);
    for (const c of codeChunks) {
      expect(c.text.startsWith("```ts\n")).toBe(true);
      expect(c.text.endsWith("\n```")).toBe(true);
      expect(c.text.length).toBeLessThanOrEqual(opts.maxChars);
    }
    for (const c of tableChunks) expect(c.text.startsWith("| id | name |\n|---|---|\n")).toBe(true);
    expect(codeChunks.map((c) => c.text).join("\n")).toContain("const value59 = compute(59);");
  });

  test("editing one section leaves the other sections' ids and hashes unchanged", () => {
    const before = chunkDoc(doc(TRICKY), opts);
    const after = chunkDoc(doc(TRICKY.replace("npm install thing", "bun add thing")), opts);
    expect(after.map((c) => c.id)).toEqual(before.map((c) => c.id));
    const changed = after.filter((c, i) => c.hash !== before[i]!.hash).map((c) => c.section);
    expect(changed).toEqual(["Install"]);
  });

  test("HTML becomes headings, lists and rows; plain text splits by paragraphs", () => {
    const html = "<html><head><title>Help &amp; FAQ</title><style>p{}</style></head><body><h1>Help</h1><h2>Cards</h2><p>Freeze a card in the app.</p><ul><li>one</li><li>two</li></ul><script>x()</script></body></html>";
    expect(htmlToMarkdown(html).title).toBe("Help & FAQ");
    const chunks = chunkDoc(doc(html, "html"), opts);
    expect(chunks.map((c) => c.section)).toEqual(["Cards"]);
    expect(chunks[0]!.text).toContain("Freeze a card in the app.");
    expect(chunks[0]!.text).toContain("- one");
    expect(chunks[0]!.text).not.toContain("x()");
    const text = chunkDoc(doc("First paragraph.\n\nSecond paragraph.", "text"), { maxChars: 20, overlapChars: 0 });
    expect(text.map((c) => c.text)).toEqual(["First paragraph.", "Second paragraph."]);
  });
});
