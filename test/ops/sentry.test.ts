import { expect, test } from "bun:test";
import { scrubEvent, scrubText, type ScrubbableEvent } from "../../src/obs/sentry.ts";

test("scrubEvent drops user, request, extra data, breadcrumbs and local variables, and masks quoted text", () => {
  const ev: ScrubbableEvent = {
    message: 'failed for "Ann Example" <ann@example.com>',
    user: { email: "ann@example.com" },
    request: { data: "hello" },
    extra: { text: "my card was declined" },
    breadcrumbs: [{ message: "log line with text" }],
    contexts: { runtime: { name: "bun" }, customer: { name: "Ann" } },
    exception: { values: [{ type: "SyntaxError", value: "JSON Parse error: Unexpected identifier 'card 4111 1111 1111 1111'", stacktrace: { frames: [{ vars: { text: "secret" } }] } }] },
  };
  const out = JSON.stringify(scrubEvent(ev));
  for (const pii of ["ann@example.com", "Ann Example", "4111", "declined", "log line", "secret", "customer"]) expect(out).not.toContain(pii);
  expect(out).toContain("SyntaxError");
  expect(out).toContain("runtime");
  expect(scrubText("call +44 20 7946 0958 now")).toBe("call +[number] now");
});

test("with a DSN, the Bun SDK sends the error type, code tag and stack to Sentry, never the message text or email", async () => {
  const proc = Bun.spawn(["bun", `${import.meta.dir}/fixtures/sentry-probe.ts`], { stdout: "pipe", stderr: "pipe", env: { ...process.env, SENTRY_DSN: "" } });
  const out = await new Response(proc.stdout).text();
  expect(await proc.exited).toBe(0);
  const { on, bodies } = JSON.parse(out.trim().split("\n").pop()!) as { on: boolean; bodies: string[] };
  expect(on).toBe(true);
  const event = bodies.find((b) => b.includes('"type":"event"'));
  expect(event, "an error event reached the fake Sentry endpoint").toBeDefined();
  expect(event).toContain('"type":"AppError"');
  expect(event).toContain('"code":"invalid_json"');
  for (const pii of ["4111", "ann@example.com", "my card"]) expect(bodies.join("\n")).not.toContain(pii);
}, 30_000);
