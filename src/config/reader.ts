import { readFileSync } from "node:fs";

/** The environment as given to loadConfig (process.env in production, a literal in tests). */
export type Env = Record<string, string | undefined>;

/** Raised once at start-up when the environment is invalid; main prints it and exits. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/**
 * Typed reads of one environment that collect every problem instead of throwing at the first, so a start-up
 * lists all of them at once (ConfigError). Section parsers (src/config/*.ts) share one reader.
 */
export class EnvReader {
  readonly problems: string[] = [];

  constructor(readonly env: Env) {}

  /** Records a problem (the value is named, never a secret's content). */
  problem(message: string): void {
    this.problems.push(message);
  }

  /** A string, or the default when unset or empty. */
  str(name: string, def: string): string {
    const v = this.env[name];
    return v === undefined || v === "" ? def : v;
  }

  /** An integer in [min, max]. */
  int(name: string, def: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problem(`${name}=${JSON.stringify(raw)} must be an integer in [${min}, ${max}]`);
      return def;
    }
    return n;
  }

  /** A finite number in [min, max]. */
  num(name: string, def: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) {
      this.problem(`${name}=${JSON.stringify(raw)} must be a number in [${min}, ${max}]`);
      return def;
    }
    return n;
  }

  /** One of the allowed values. */
  oneOf<T extends string>(name: string, def: T, allowed: readonly T[]): T {
    const v = this.str(name, def);
    const hit = allowed.find((a) => a === v);
    if (hit === undefined) {
      this.problem(`${name}=${JSON.stringify(v)} must be one of ${allowed.join(", ")}`);
      return def;
    }
    return hit;
  }

  /** `true` or `false`. */
  bool(name: string, def: boolean): boolean {
    return this.oneOf(name, def ? "true" : "false", ["true", "false"] as const) === "true";
  }

  /** A comma-separated list, trimmed, without empty entries. */
  list(name: string, def = ""): string[] {
    return this.str(name, def)
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  }

  /**
   * The one secret reader: NAME, or the file named by NAME_FILE (Docker/Kubernetes secrets; the file wins). An
   * unreadable file is a collected problem like any other, never a raw exception.
   */
  secret(name: string): string | undefined {
    const file = this.env[`${name}_FILE`];
    if (file) {
      try {
        return readFileSync(file, "utf8").trim();
      } catch (e) {
        this.problem(`${name}_FILE cannot be read: ${(e as Error).message}`);
        return undefined;
      }
    }
    const v = this.env[name];
    return v === undefined || v === "" ? undefined : v;
  }

  /** A URL (possibly a secret: it may carry credentials) with one of the protocols, or null when unset. */
  url(name: string, protocols: string[]): string | null {
    const v = this.secret(name);
    if (!v) return null;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) this.problem(`${name} must use ${protocols.join(" or ")} (got ${u.protocol})`);
    } catch {
      this.problem(`${name} is not a valid URL`);
    }
    return v;
  }
}
