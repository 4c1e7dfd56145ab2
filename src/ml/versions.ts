import { existsSync, readdirSync, renameSync, statSync, writeFileSync, readFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Versioned heads: `models/<task>/` holds the shipped ("base") head; retrained heads go to
 * `models/<task>/versions/<id>/` and the `current` file names the one in service. Services poll `current`, so a
 * promotion or a rollback takes effect without a restart. `promotions.log` (one id per line, "base" included) is the
 * history `rollback` walks back.
 */
export interface HeadVersion {
  /** "base" or the id of a folder under versions/. */
  version: string;
  /** Folder holding head.onnx, labels.json (and tfidf.json). */
  dir: string;
}

const VERSION_ID = /^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$/;

/** The head folder in service for a task folder: the one `current` names, or the base head when there is none. */
export function resolveHead(taskDir: string): HeadVersion {
  const pointer = join(taskDir, "current");
  if (existsSync(pointer)) {
    const v = readFileSync(pointer, "utf8").trim();
    if (v && v !== "base" && VERSION_ID.test(v) && existsSync(join(taskDir, "versions", v, "labels.json"))) return { version: v, dir: join(taskDir, "versions", v) };
  }
  return { version: "base", dir: taskDir };
}

/** What a watcher compares to notice a promotion: the pointer's mtime and contents ("" when there is no pointer). */
export function pointerStamp(taskDir: string): string {
  const pointer = join(taskDir, "current");
  try {
    return `${statSync(pointer).mtimeMs}:${readFileSync(pointer, "utf8").trim()}`;
  } catch {
    return "";
  }
}

/** A new, sortable version id (UTC timestamp to the millisecond). */
export function newVersionId(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, "").replace(".", "-");
}

/** Version ids stored under versions/, oldest first. */
export function listVersions(taskDir: string): string[] {
  const dir = join(taskDir, "versions");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((v) => VERSION_ID.test(v) && existsSync(join(dir, v, "labels.json")))
    .sort();
}

/** Points `current` at a version ("base" = the shipped head); written to a temp file and renamed, so readers never see half a pointer. */
export function promote(taskDir: string, version: string): void {
  if (version !== "base" && !listVersions(taskDir).includes(version)) throw new Error(`no version ${version} under ${join(taskDir, "versions")}`);
  const tmp = join(taskDir, `.current.${process.pid}`);
  writeFileSync(tmp, `${version}\n`);
  renameSync(tmp, join(taskDir, "current"));
  appendFileSync(join(taskDir, "promotions.log"), `${version}\n`);
}

/** Puts the previously promoted version back in service (base when there is no earlier one); returns it. */
export function rollback(taskDir: string): { from: string; to: string } {
  const from = resolveHead(taskDir).version;
  const logPath = join(taskDir, "promotions.log");
  const history = existsSync(logPath) ? readFileSync(logPath, "utf8").split("\n").filter(Boolean) : [];
  // Drop trailing entries equal to the version in service, then the previous distinct one is the target.
  while (history.length && history.at(-1) === from) history.pop();
  const to = history.at(-1) ?? "base";
  const tmp = join(taskDir, `.current.${process.pid}`);
  writeFileSync(tmp, `${to}\n`);
  renameSync(tmp, join(taskDir, "current"));
  writeFileSync(logPath, history.length ? `${history.join("\n")}\n` : "");
  return { from, to };
}
