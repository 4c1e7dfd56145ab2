import { afterEach, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Bm25Index } from "../../src/rag/bm25.ts";
import { Collection } from "../../src/rag/collection.ts";
import { loadPath } from "../../src/rag/sources.ts";
import { DEFAULT_PARAMS } from "../../src/rag/types.ts";
import { VectorIndex } from "../../src/rag/vectors.ts";
import { HashEmbedder, tempDir } from "./helpers.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function tmp(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

const params = { ...DEFAULT_PARAMS, chunkChars: 500, overlapChars: 100 };

function writeKb(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

async function ingest(c: Collection, kbDir: string) {
  const [{ origin, docs }] = loadPath(kbDir) as [ReturnType<typeof loadPath>[number]];
  return c.sync(origin, docs);
}

const FILES = {
  "cards.md": "# Cards\n\n## Lost card\n\nFreeze the card in the app, then report it lost. A replacement arrives in 3 to 5 working days.\n\n## Declined card\n\nA card can be declined when the balance is too low or the card is frozen.\n",
  "transfers.md": "# Transfers\n\nUK transfers arrive within two hours. International transfers take 1 to 4 working days.\n",
  "faq/fees.txt": "Fees\n\nThe Premier plan costs 12 pounds a month and has no foreign transaction fee.\n",
  "help.html": "<html><head><title>Opening hours</title></head><body><h1>Opening hours</h1><p>Chat is open 24/7 for lost cards.</p></body></html>",
};

describe("incremental ingestion", () => {
  test("first ingest embeds every chunk; an unchanged re-ingest embeds nothing and writes nothing", async () => {
    const kb = join(tmp(), "kb");
    writeKb(kb, FILES);
    const e = new HashEmbedder();
    const dir = tmp();
    const c = await Collection.open({ dir, name: "kb", embedder: e, params });
    const first = await ingest(c, kb);
    expect(first).toMatchObject({ docs: 4, added: 4, unchanged: 0, deleted: 0 });
    expect(first.embedded).toBe(first.chunks);
    expect(c.docIds().sort()).toEqual(["kb/cards", "kb/faq/fees", "kb/help", "kb/transfers"]);
    const texts = e.texts;
    const mtime = statSync(join(dir, "hnsw.bin")).mtimeMs;
    const again = await ingest(c, kb);
    expect(statSync(join(dir, "hnsw.bin")).mtimeMs).toBe(mtime);
    expect(again).toMatchObject({ docs: 4, unchanged: 4, added: 0, updated: 0, embedded: 0, removed: 0 });
    expect(e.texts).toBe(texts);
  });

  test("a changed section re-embeds only its chunk; a deleted file leaves the index", async () => {
    const kb = join(tmp(), "kb");
    writeKb(kb, FILES);
    const e = new HashEmbedder();
    const c = await Collection.open({ dir: tmp(), name: "kb", embedder: e, params });
    await ingest(c, kb);
    writeFileSync(join(kb, "cards.md"), FILES["cards.md"].replace("3 to 5 working days", "2 working days"));
    rmSync(join(kb, "help.html"));
    const before = e.texts;
    const s = await ingest(c, kb);
    expect(s).toMatchObject({ updated: 1, deleted: 1, unchanged: 2, embedded: 1, reused: 1 });
    expect(e.texts - before).toBe(1);
    expect(c.docIds()).not.toContain("kb/help");
    const q = (await e.embed(["replacement card arrives"], "query"))[0]!;
    const top = c.search(q, "replacement card arrives")[0]!;
    expect(top.text).toContain("2 working days");
    expect(c.search(q, "chat open 24/7").some((p) => p.doc_id === "kb/help")).toBe(false);
  });
});

test("a JSONL knowledge base ingests {id, title, text, url} records and updates by record", async () => {
  const file = join(tmp(), "articles.jsonl");
  const rec = (id: string, text: string) => JSON.stringify({ id, title: `Article ${id}`, text, url: `https://kb.example/${id}` });
  writeFileSync(file, [rec("a1", "Reset your password from the login page."), rec("a2", "Invoices are emailed monthly.")].join("\n") + "\n");
  const [{ origin, docs }] = loadPath(file) as [ReturnType<typeof loadPath>[number]];
  expect(docs.map((d) => [d.id, d.title, d.url, d.source])).toEqual([
    ["a1", "Article a1", "https://kb.example/a1", "articles.jsonl#a1"],
    ["a2", "Article a2", "https://kb.example/a2", "articles.jsonl#a2"],
  ]);
  const c = await Collection.open({ dir: tmp(), name: "kb", embedder: new HashEmbedder(), params });
  expect(await c.sync(origin, docs)).toMatchObject({ added: 2, embedded: 2 });
  writeFileSync(file, [rec("a1", "Reset your password from the login page."), rec("a3", "Cards arrive in 5 days.")].join("\n") + "\n");
  const [{ docs: next }] = loadPath(file) as [ReturnType<typeof loadPath>[number]];
  expect(await c.sync(origin, next)).toMatchObject({ added: 1, deleted: 1, unchanged: 1, embedded: 1 });
  expect(c.docIds().sort()).toEqual(["a1", "a3"]);
  writeFileSync(file, "{not json}\n");
  expect(() => loadPath(file)).toThrow(/articles.jsonl:1 is not JSON/);
});

test("a search during a re-ingest still finds the document being updated", async () => {
  const kb = join(tmp(), "kb");
  writeKb(kb, FILES);
  const e = new HashEmbedder();
  const c = await Collection.open({ dir: tmp(), name: "kb", embedder: e, params });
  await ingest(c, kb);
  const q = (await e.embed(["replacement card arrives"], "query"))[0]!;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = e.embed.bind(e);
  e.embed = async (texts, kind) => {
    await gate;
    return slow(texts, kind);
  };
  writeFileSync(join(kb, "cards.md"), FILES["cards.md"].replace("3 to 5 working days", "2 working days"));
  const running = ingest(c, kb);
  await Bun.sleep(5);
  expect(c.search(q, "replacement card arrives")[0]!.text).toContain("3 to 5 working days");
  release();
  await running;
  expect(c.search(q, "replacement card arrives")[0]!.text).toContain("2 working days");
});

describe("persistence", () => {
  test("a reopened collection answers the same without re-embedding", async () => {
    const kb = join(tmp(), "kb");
    writeKb(kb, FILES);
    const dir = tmp();
    const e = new HashEmbedder();
    const c = await Collection.open({ dir, name: "kb", embedder: e, params });
    await ingest(c, kb);
    const q = (await e.embed(["international transfer days"], "query"))[0]!;
    const before = c.search(q, "international transfer days").map((p) => [p.chunk_id, p.score]);
    const e2 = new HashEmbedder();
    const c2 = await Collection.open({ dir, name: "kb", embedder: e2, params });
    expect(c2.stats()).toMatchObject({ docs: 4, chunks: c.stats().chunks });
    expect(c2.search(q, "international transfer days").map((p) => [p.chunk_id, p.score])).toEqual(before);
    expect((await ingest(c2, kb)).embedded).toBe(0);
    expect(e2.texts).toBe(0);
  });

  test("an index built with another model is refused, or re-embedded when asked", async () => {
    const kb = join(tmp(), "kb");
    writeKb(kb, FILES);
    const dir = tmp();
    const c = await Collection.open({ dir, name: "kb", embedder: new HashEmbedder("model-a"), params });
    await ingest(c, kb);
    const other = new HashEmbedder("model-b");
    await expect(Collection.open({ dir, name: "kb", embedder: other, params })).rejects.toMatchObject({ code: "index_model_mismatch", status: 409 });
    expect(() => VectorIndex.open(dir, "model-b", 256, params)).toThrow(/built with model model-a/);
    const copy = tmp();
    cpSync(dir, copy, { recursive: true });
    const re = await Collection.open({ dir: copy, name: "kb", embedder: other, params, onModelMismatch: "reembed" });
    expect(other.texts).toBe(c.stats().chunks);
    expect(re.stats().chunks).toBe(c.stats().chunks);
    expect(() => VectorIndex.open(copy, "model-a", 256, params)).toThrow(/built with model model-b/);
  });

  test("an encoder that changed under the same id is caught by the probe fingerprint", async () => {
    const kb = join(tmp(), "kb");
    writeKb(kb, FILES);
    const dir = tmp();
    await ingest(await Collection.open({ dir, name: "kb", embedder: new HashEmbedder("model-a"), params }), kb);
    const changed = new HashEmbedder("model-a", 256, "v2:");
    await expect(Collection.open({ dir, name: "kb", embedder: changed, params })).rejects.toThrow(/encodes the probe passage differently/);
    expect((await Collection.open({ dir, name: "kb", embedder: new HashEmbedder("model-a"), params })).stats().chunks).toBeGreaterThan(0);
  });
});

describe("vector index", () => {
  test("deleted labels are not returned and their slots are reused by later adds", async () => {
    const dir = tmp();
    const e = new HashEmbedder();
    const v = VectorIndex.open(dir, e.id, e.dim, params);
    const vecs = await e.embed(Array.from({ length: 10 }, (_, i) => `document ${i} about topic ${i * 7}`));
    vecs.forEach((x, i) => v.add(i, x));
    for (const l of [2, 5, 7]) v.remove(l);
    expect(v.count).toBe(7);
    expect(v.search(vecs[5]!, 10).map((h) => h.label)).not.toContain(5);
    const more = await e.embed(["new a", "new b", "new c"]);
    more.forEach((x, i) => v.add(100 + i, x));
    expect(v.count).toBe(10);
    expect(v.slots).toBe(10);
    expect(v.search(more[1]!, 1)[0]).toMatchObject({ label: 101 });
    expect(v.search(more[1]!, 1)[0]!.sim).toBeCloseTo(1, 5);
    v.save();
    const back = VectorIndex.open(dir, e.id, e.dim, params);
    expect(back.count).toBe(10);
    expect(back.search(vecs[0]!, 1)[0]!.label).toBe(0);
  });
});

describe("BM25", () => {
  test("ranks the document with the rare query term first and forgets removed documents", () => {
    const b = new Bm25Index();
    b.add(1, "How to reset the password of an account");
    b.add(2, "Chargeback disputes for card payments take 30 days");
    b.add(3, "Card payments abroad and the account fees");
    expect(b.search("chargeback on my card", 3).map((h) => h.key)).toEqual([2, 3]);
    expect(b.search("resetting passwords", 3)[0]!.key).toBe(1);
    b.remove(2);
    expect(b.search("chargeback", 3)).toEqual([]);
    expect(b.size).toBe(2);
    expect(b.search("nothing matches zzz", 3)).toEqual([]);
  });
});
