/**
 * Puts the previously promoted head of a task back in service (running services pick it up by polling `current`).
 *   bun run models:rollback intent|sentiment [--models DIR] [--to VERSION|base] [--list]
 */
import { join, resolve } from "node:path";
import { parseArgs } from "../../src/ml/data.ts";
import { listVersions, promote, resolveHead, rollback } from "../../src/ml/versions.ts";

const task = process.argv[2];
const args = parseArgs(process.argv.slice(3));
if (task !== "intent" && task !== "sentiment") {
  console.error("usage: bun run models:rollback intent|sentiment [--models DIR] [--to VERSION|base] [--list]");
  process.exit(2);
}
const taskDir = join(args.models ?? resolve(import.meta.dir, "../../models"), task);
if (args.list) {
  const current = resolveHead(taskDir).version;
  for (const v of ["base", ...listVersions(taskDir)]) console.log(`${v === current ? "*" : " "} ${v}`);
  console.log(JSON.stringify({ task, current, versions: ["base", ...listVersions(taskDir)] }));
} else if (args.to) {
  const from = resolveHead(taskDir).version;
  promote(taskDir, args.to);
  console.log(JSON.stringify({ task, from, to: args.to }));
} else {
  console.log(JSON.stringify({ task, ...rollback(taskDir) }));
}
