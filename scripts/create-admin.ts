/**
 * Creates a dashboard user (the first admin, or anyone later) in the configured database.
 *   bun run admin:create -- --email ada@example.com --name "Ada Lovelace" [--role admin|lead|agent]
 * The password is read from stdin (one line), so it never appears in shell history or the process list:
 *   printf '%s\n' "$PASSWORD" | bun run admin:create -- --email ...
 * Needs DATABASE_URL or PGLITE_DIR: the default in-memory database disappears with the process (use
 * DASHBOARD_ADMIN_EMAIL / DASHBOARD_ADMIN_PASSWORD for that case instead).
 */
import { parseArgs } from "node:util";
import { persistentConfig } from "./lib/config.ts";
import { Accounts, ROLES, type Role } from "../src/dashboard/auth.ts";
import { openPglite, openPostgres } from "../src/db/store.ts";
import { AppError } from "../src/errors.ts";

const { values } = parseArgs({
  options: { email: { type: "string" }, name: { type: "string" }, role: { type: "string", default: "admin" }, reset: { type: "boolean", default: false } },
});
if (!values.email) {
  console.error("usage: bun run admin:create -- --email <email> [--name <name>] [--role admin|lead|agent] [--reset]  (password on stdin)");
  process.exit(2);
}
if (!(ROLES as readonly string[]).includes(values.role!)) {
  console.error(`--role must be one of ${ROLES.join(", ")}`);
  process.exit(2);
}
const config = persistentConfig("the embedded in-memory database would lose this user; set DASHBOARD_ADMIN_EMAIL/_PASSWORD instead");
process.stderr.write("password (12+ characters, one line on stdin): ");
const password = ((await Bun.stdin.text()).split(/\r?\n/)[0] ?? "").trim();
const store = config.databaseUrl ? await openPostgres(config.databaseUrl, 2) : await openPglite(config.pgliteDir);
const accounts = new Accounts(store.db, config.dashboard.sessionTtlHours);
try {
  if (values.reset) {
    if (!(await accounts.setPassword(values.email, password))) throw new AppError("not_found", `no user ${values.email}`);
    console.log(`\npassword reset for ${values.email}`);
  } else {
    const u = await accounts.createUser({ email: values.email, name: values.name ?? values.email, role: values.role as Role, password });
    console.log(`\ncreated ${u.role} ${u.email} (${u.id})`);
  }
} catch (e) {
  console.error(`\n${e instanceof AppError ? e.message : e}`);
  process.exitCode = 1;
} finally {
  await store.close();
}
