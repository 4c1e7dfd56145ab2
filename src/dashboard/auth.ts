import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { and, asc, count, eq, gt, inArray, lt } from "drizzle-orm";
import type { Db } from "../db/store.ts";
import { authSessions, users } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { type PasswordVerifier, poolVerifier } from "./password-check.ts";

/** Dashboard roles, least to most privileged: agents act on conversations, leads also read trends, admins manage rules and users. */
export const ROLES = ["agent", "lead", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** A stored role; one this version does not know grants the least (a row is never trusted beyond what it says). */
export function roleOf(v: string): Role {
  return ROLES.find((r) => r === v) ?? "agent";
}

const RANK: Record<Role, number> = { agent: 1, lead: 2, admin: 3 };

/** True when `role` grants at least what `needed` grants. */
export function hasRole(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/** A signed-in dashboard user as seen by handlers (never the password hash). */
export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
}

/** The authenticated request: who, and the CSRF token every state-changing request must echo. */
export interface Principal {
  user: User;
  csrf: string;
  tokenHash: string;
}

const EMAIL = /^[^\s@<>]{1,64}@[^\s@<>]{1,255}$/;
/** Minimum password length; long passphrases beat composition rules (NIST SP 800-63B). */
export const MIN_PASSWORD = 12;

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const token = () => randomBytes(32).toString("base64url");

/** Constant-time string comparison that tolerates different lengths. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Users and sign-in sessions in the database; session cookies carry a random token whose hash is the row key. */
export class Accounts {
  /** Verifying against this when the email is unknown keeps the response time the same as for a wrong password. */
  private dummyHash: Promise<string> | null = null;

  /**
   * `cost` lowers argon2id's memory/time for tests only; production uses Bun's defaults (64 MiB, t=2). `check` is where
   * sign-in verifications run (password-check.ts; the product passes a low-priority worker thread).
   */
  constructor(
    private readonly db: Db,
    private readonly ttlHours: number,
    private readonly cost: { memoryCost: number; timeCost: number } | null = null,
    private readonly check: PasswordVerifier = poolVerifier,
  ) {}

  private hash(password: string): Promise<string> {
    return Bun.password.hash(password, { algorithm: "argon2id", ...(this.cost ?? {}) });
  }

  /** Creates a user; the email is case-folded and must be unique. */
  async createUser(input: { email: string; name: string; role: Role; password: string }): Promise<User> {
    const email = input.email.trim().toLowerCase();
    if (!EMAIL.test(email)) throw new AppError("invalid_user", "email is not valid", { status: 422 });
    if (!(ROLES as readonly string[]).includes(input.role)) throw new AppError("invalid_user", `role must be one of ${ROLES.join(", ")}`, { status: 422 });
    if (input.password.length < MIN_PASSWORD) throw new AppError("invalid_user", `password must be at least ${MIN_PASSWORD} characters`, { status: 422 });
    const name = input.name.trim().slice(0, 128) || email;
    const passwordHash = await this.hash(input.password);
    const id = Bun.randomUUIDv7();
    const rows = await this.db.insert(users).values({ id, email, name, role: input.role, passwordHash }).onConflictDoNothing().returning({ id: users.id });
    if (rows.length === 0) throw new AppError("user_exists", "a user with this email already exists", { status: 409 });
    return { id, email, name, role: input.role };
  }

  /** Replaces a user's password (admin reset or CLI). */
  async setPassword(email: string, password: string): Promise<boolean> {
    if (password.length < MIN_PASSWORD) throw new AppError("invalid_user", `password must be at least ${MIN_PASSWORD} characters`, { status: 422 });
    const passwordHash = await this.hash(password);
    const rows = await this.db.update(users).set({ passwordHash }).where(eq(users.email, email.trim().toLowerCase())).returning({ id: users.id });
    if (rows[0]) await this.db.delete(authSessions).where(eq(authSessions.userId, rows[0].id));
    return rows.length > 0;
  }

  /**
   * Checks a password; returns the user or null, doing the same hashing work whether or not the email exists.
   * Checks run one at a time per process: argon2id is memory- and CPU-hard by design, and parallel sign-ins must not
   * take every core from the pipeline (the product also runs them at a lower thread priority: password-check.ts).
   */
  verify(email: string, password: string): Promise<User | null> {
    const run = this.checking.then(() => this.verifyNow(email, password));
    this.checking = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private checking: Promise<void> = Promise.resolve();

  private async verifyNow(email: string, password: string): Promise<User | null> {
    const [row] = await this.db.select().from(users).where(eq(users.email, email.trim().toLowerCase())).limit(1);
    if (!row || row.disabled) {
      this.dummyHash ??= this.hash(token());
      await this.check(password, await this.dummyHash);
      return null;
    }
    const ok = await this.check(password, row.passwordHash);
    return ok ? { id: row.id, email: row.email, name: row.name, role: roleOf(row.role) } : null;
  }

  /** Opens a session; the raw token goes into the cookie, only its hash into the database. */
  async startSession(userId: string): Promise<{ token: string; csrf: string; maxAgeSeconds: number }> {
    const t = token();
    const csrf = token();
    const maxAgeSeconds = this.ttlHours * 3600;
    await this.db.delete(authSessions).where(lt(authSessions.expiresAt, new Date()));
    await this.db.insert(authSessions).values({ tokenHash: sha256(t), userId, csrfToken: csrf, expiresAt: new Date(Date.now() + maxAgeSeconds * 1000) });
    return { token: t, csrf, maxAgeSeconds };
  }

  /** Resolves a session cookie to its principal; expired sessions and disabled users resolve to null. */
  async session(rawToken: string | null | undefined): Promise<Principal | null> {
    if (!rawToken || rawToken.length > 128) return null;
    const tokenHash = sha256(rawToken);
    const [row] = await this.db
      .select({ csrf: authSessions.csrfToken, id: users.id, email: users.email, name: users.name, role: users.role, disabled: users.disabled })
      .from(authSessions)
      .innerJoin(users, eq(users.id, authSessions.userId))
      .where(and(eq(authSessions.tokenHash, tokenHash), gt(authSessions.expiresAt, new Date())))
      .limit(1);
    if (!row || row.disabled) return null;
    return { user: { id: row.id, email: row.email, name: row.name, role: roleOf(row.role) }, csrf: row.csrf, tokenHash };
  }

  /** Which of these session token hashes still belong to an unexpired session of an enabled user. */
  async validTokens(tokenHashes: string[]): Promise<Set<string>> {
    if (tokenHashes.length === 0) return new Set();
    const rows = await this.db
      .select({ h: authSessions.tokenHash })
      .from(authSessions)
      .innerJoin(users, eq(users.id, authSessions.userId))
      .where(and(inArray(authSessions.tokenHash, tokenHashes), gt(authSessions.expiresAt, new Date()), eq(users.disabled, 0)));
    return new Set(rows.map((r) => r.h));
  }

  /** Ends a session (sign-out). */
  async endSession(tokenHash: string): Promise<void> {
    await this.db.delete(authSessions).where(eq(authSessions.tokenHash, tokenHash));
  }

  /** Creates the configured admin when no user exists yet (first start on a fresh database). */
  async bootstrap(admin: { email: string; password: string } | null): Promise<User | null> {
    if (!admin) return null;
    const [row] = await this.db.select({ n: count() }).from(users);
    if (Number(row?.n ?? 0) > 0) return null;
    return this.createUser({ email: admin.email, name: "Administrator", role: "admin", password: admin.password }).catch((e) => {
      if (e instanceof AppError && e.code === "user_exists") return null;
      throw e;
    });
  }

  /** Every user, for the admin page. */
  async list(): Promise<(User & { disabled: boolean; createdAt: Date })[]> {
    const rows = await this.db.select().from(users).orderBy(asc(users.email));
    return rows.map((r) => ({ id: r.id, email: r.email, name: r.name, role: roleOf(r.role), disabled: r.disabled === 1, createdAt: r.createdAt }));
  }

  /** Enables or disables a user; disabling also ends their sessions. */
  async setDisabled(id: string, disabled: boolean): Promise<void> {
    await this.db.update(users).set({ disabled: disabled ? 1 : 0 }).where(eq(users.id, id));
    if (disabled) await this.db.delete(authSessions).where(eq(authSessions.userId, id));
  }
}

/** Reads one cookie from a Cookie header. */
export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

/** Cookie names; the `__Host-` prefix (Secure, Path=/, no Domain) is used whenever cookies are Secure. */
export function cookieNames(secure: boolean): { session: string; csrf: string } {
  return secure ? { session: "__Host-copilot_session", csrf: "__Host-copilot_csrf" } : { session: "copilot_session", csrf: "copilot_csrf" };
}

/** Serialises a Set-Cookie value: always HttpOnly and SameSite=Strict, Secure when configured. */
export function setCookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${encodeURIComponent(value)}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

/** A fresh random token (CSRF tokens for the sign-in form). */
export function randomToken(): string {
  return token();
}
