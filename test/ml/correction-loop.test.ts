import { triageAgents } from "../../src/agents/triage/index.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { eq } from "drizzle-orm";
import { results } from "../../src/db/schema.ts";
import { loadTriage, type IntentOutput, type Triage } from "../../src/ml/index.ts";
import { resolveHead } from "../../src/ml/versions.ts";
import { ingest, signIn, startHarness, testAgents, until, type Harness } from "../dashboard/harness.ts";
import { describeWith, services } from "../support/env.ts";

/**
 * The correction → retrain loop end to end: the real triage workers (over a small intent head trained here) run in
 * the product; an admin corrects 20 intent labels through the dashboard's HTTP routes, exports them as JSONL, the
 * admin script retrains and promotes a new head version, the running service picks it up by polling `current`, and
 * the next message's result records the new version. Needs the training python with scikit-learn, onnx and
 * onnxruntime ($PYTHON: scripts/ml/setup-python.sh, which scripts/test.sh runs); a failure in CI without it.
 */
const ROOT = resolve(import.meta.dir, "../..");
const PY = services.python ?? "python3";

const BASE: Record<string, string[]> = {
  card_arrival: ["Where is my new card?", "My card has not arrived yet", "When will my card be delivered?", "I am still waiting for my card", "How long until my card arrives?", "Has my card been sent?", "Card not received yet", "Track my card delivery", "Is my card on its way?", "The card you sent never came"],
  exchange_rate: ["What exchange rate do you use?", "How are your exchange rates calculated?", "What is the rate for euros?", "Where do your exchange rates come from?", "Is the exchange rate fixed?", "Which rate applies to dollars?", "Tell me the pound to euro rate", "Do exchange rates change daily?", "Exchange rate for a payment abroad", "What rate will I get for yen?"],
  cancel_transfer: ["Cancel my last transfer", "I want to stop a transfer I made", "Can I reverse a transfer?", "Please cancel the payment I just sent", "How do I cancel a transfer?", "Stop the transfer to my landlord", "I sent money by mistake, cancel it", "Undo my bank transfer", "Is it possible to cancel a pending transfer?", "Revoke the transfer from this morning"],
  top_up_limits: ["Is there a limit to top-up amounts?", "What is the maximum top up?", "How much can I top up at once?", "Top-up limit per day?", "Can I top up more than 1000?", "Are there top up caps?", "Maximum amount for adding money", "How high can a top-up go?", "What is the top up ceiling?", "Limits on topping up my account"],
};
// Twenty messages the base head files under card_arrival; the admin moves them to exchange_rate (a taxonomy decision
// the base head cannot know), so only a retrained head can follow.
const CORRECTED = Array.from({ length: 20 }, (_, i) => `Where is the replacement plastic for account holder number ${i + 1}?`);

let dir: string;
let triage: Triage;
let h: Harness;

describeWith("python", "correction loop: dashboard corrections → retrain → promote → next message", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "loop-models-"));
    symlinkSync(join(ROOT, "models/embed"), join(dir, "embed"));
    for (const f of ["triage.json", "catalogue.json"]) cpSync(join(ROOT, "models", f), join(dir, f));
    for (const d of ["sentiment", "anger"]) cpSync(join(ROOT, "models", d), join(dir, d), { recursive: true });
    const csv = ["text,label", ...Object.entries(BASE).flatMap(([label, texts]) => texts.map((t) => `"${t}",${label}`))].join("\n") + "\n";
    writeFileSync(join(dir, "base.csv"), csv);
    const base = Bun.spawnSync(["bun", join(ROOT, "scripts/ml/train-head.ts"), "intent", "--models", dir, "--data", join(dir, "base.csv"), "--text-col", "text", "--label-col", "label", "--candidates", JSON.stringify([{ kind: "lrknn", C: 5, tau: 0.02, a: 0.5, t_lr: 1 }])], { env: { ...process.env, PYTHON: PY }, stderr: "pipe", stdout: "pipe" });
    if (base.exitCode !== 0) throw new Error(`base training failed: ${base.stderr.toString()}`);
    triage = await loadTriage({ modelsDir: dir, watchMs: 50 });
    const agents = [...triageAgents(triage.model), ...testAgents().filter((a) => a.name === "knowledge" || a.name === "reply")];
    h = await startHarness({ agents, models: { calibrationReport: join(dir, "intent", "calibration.json"), versions: () => triage.model.versions } });
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await triage?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("20 corrections made in the dashboard retrain, promote and serve a new head version without a restart", async () => {
    const admin = await signIn(h, "admin");
    const ids: string[] = [];
    for (const [i, text] of CORRECTED.entries()) ids.push((await ingest(h, { source: "chat", user: { id: `loop-user-${i}` }, message: { text } })).id);
    const before = await h.parts.store.db.select().from(results).where(eq(results.messageId, ids[0]!));
    const first = (before[0]!.outputs as { intent: IntentOutput }).intent;
    expect(first.version).toBe("base");
    expect(first.top[0]!.label).not.toBe("exchange_rate");

    for (const id of ids) {
      const r = await admin.post(`/dashboard/messages/${id}/labels`, { field: "intent", value: "exchange_rate" }, { "hx-request": "true", "x-csrf-token": admin.csrf });
      expect(r.status).toBe(200);
    }
    const exported = await admin.get("/dashboard/labels.jsonl");
    expect(exported.status).toBe(200);
    const jsonl = await exported.text();
    expect(jsonl.trim().split("\n")).toHaveLength(20);
    writeFileSync(join(dir, "labels.jsonl"), jsonl);

    const run = Bun.spawnSync(
      ["bun", join(ROOT, "scripts/ml/train-head.ts"), "intent", "--models", dir, "--data", join(dir, "base.csv"), "--text-col", "text", "--label-col", "label", "--corrections", join(dir, "labels.jsonl"), "--fast"],
      { env: { ...process.env, PYTHON: PY }, stderr: "pipe", stdout: "pipe" },
    );
    const out = run.stdout.toString();
    if (run.exitCode !== 0) throw new Error(`retraining failed: ${run.stderr.toString()}`);
    const summary = JSON.parse(out.trim().split("\n").at(-1)!) as { version: string; previous: string; promoted: boolean; corrections: number; new_overall: number; old_overall: number };
    expect(summary).toMatchObject({ previous: "base", promoted: true, corrections: 20 });
    expect(summary.new_overall).toBeGreaterThanOrEqual(summary.old_overall);
    expect(resolveHead(join(dir, "intent")).version).toBe(summary.version);
    const report = JSON.parse(readFileSync(join(dir, "intent/versions", summary.version, "report.json"), "utf8"));
    expect(report.old.corrected_accuracy).toBeLessThan(0.5);
    expect(report.new.corrected_accuracy).toBe(1);
    expect(existsSync(join(dir, "intent/versions", summary.version, "report.md"))).toBe(true);

    // The running service swaps the head in by itself; the next message records the new version and label.
    await until(() => triage.model.versions.intent === summary.version, 10_000, "the promoted head to be swapped in");
    const next = await ingest(h, { source: "chat", user: { id: "loop-user-next" }, message: { text: "Where is the replacement plastic for account holder number 42?" } });
    const [row] = await h.parts.store.db.select().from(results).where(eq(results.messageId, next.id));
    const intent = (row!.outputs as { intent: IntentOutput }).intent;
    expect(intent.version).toBe(summary.version);
    expect(intent.top[0]!.label).toBe("exchange_rate");

    // Rollback puts the base head back, again without a restart.
    const rb = Bun.spawnSync(["bun", join(ROOT, "scripts/ml/rollback.ts"), "intent", "--models", dir], { stdout: "pipe", stderr: "pipe" });
    expect(JSON.parse(rb.stdout.toString().trim())).toEqual({ task: "intent", from: summary.version, to: "base" });
    await until(() => triage.model.versions.intent === "base", 10_000, "the rollback to be picked up");
  }, 90_000);

  test("the admin Models page shows the calibration report, escaped, to admins only", async () => {
    const report = {
      version: "base", file: "<b>x</b>.csv", split: "dev", rows: 2, accuracy: 0.5, macro_f1: 0.5, ece: 0.1, unknown_threshold: 0.5, coverage: 1, accuracy_on_covered: 0.5,
      reliability: [{ lo: 0.9, hi: 1, n: 2, confidence: 0.95, accuracy: 0.5 }], coverage_curve: [{ threshold: 0.5, coverage: 1, accuracy: 0.5 }],
      per_intent: [{ label: "<script>alert(1)</script>", support: 1, precision: 1, recall: 0.5, f1: 0.667 }], at: "2026-12-03T00:00:00Z",
    };
    writeFileSync(join(dir, "intent", "calibration.json"), JSON.stringify(report));
    const admin = await signIn(h, "admin");
    const lead = await signIn(h, "lead");
    expect((await lead.get("/dashboard/models")).status).toBe(403);
    const r = await admin.get("/dashboard/models");
    expect(r.status).toBe(200);
    const html = await r.text();
    expect(html).toContain("Reliability diagram");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("95.0%");
  });
});
