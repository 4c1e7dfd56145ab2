import { isIP } from "node:net";
import { parseApiKeys } from "../http/auth.ts";
import { DEFAULT_ABUSE, RATE_NAMES, type AbuseSettings } from "../ratelimit/guard.ts";
import { DEFAULT_VISITOR_KEY } from "../widget/identity.ts";
import type { EnvReader } from "./reader.ts";
import type { Config } from "./types.ts";

/** API_KEYS, RATE_LIMIT_*, TRUSTED_PROXIES, socket caps, VISITOR_ID_KEY, METRICS_TOKEN. */
export function securitySection(r: EnvReader, appEnv: Config["env"]): Pick<Config, "apiKeys" | "abuse" | "visitorIdKey" | "metricsToken"> {
  const parsed = parseApiKeys(r.secret("API_KEYS") ?? "");
  const apiKeys = parsed.keys;
  for (const p of parsed.problems) r.problem(p);
  if (appEnv === "production" && apiKeys.length === 0) r.problem("API_KEYS (or API_KEYS_FILE) is required when APP_ENV=production");
  // A plain key can do everything (ingest, approve, send any text): refused in production, a warning elsewhere (runtime).
  if (appEnv === "production" && apiKeys.some((k) => k.legacy)) r.problem("API_KEYS: plain keys (all scopes) are refused when APP_ENV=production; use name:scope1+scope2:secret");

  // Abuse limits: RATE_LIMIT_<NAME>=<count>/<window> (window like 60s, 15m, 1h), GCRA: a burst of <count>, refilled over <window>.
  const rates = { ...DEFAULT_ABUSE.rates };
  const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  for (const name of RATE_NAMES) {
    const key = `RATE_LIMIT_${name.toUpperCase()}`;
    const raw = r.env[key];
    if (raw === undefined || raw === "") continue;
    const m = /^(\d{1,9})\/(\d{0,9})(ms|s|m|h)$/.exec(raw.trim());
    const unit = m ? units[m[3] as keyof typeof units] : 0;
    const limit = m ? Number(m[1]) : 0;
    const windowMs = m ? (m[2] ? Number(m[2]) : 1) * unit : 0;
    if (!m || limit < 1 || windowMs < 1) r.problem(`${key}=${JSON.stringify(raw)} must be <count>/<window>, e.g. 30/1m or 20/15m`);
    else rates[name] = { limit, windowMs };
  }
  const trustedProxies = r.list("TRUSTED_PROXIES");
  for (const p of trustedProxies) {
    const [addr, bits] = p.split("/");
    const v = isIP(addr ?? "");
    if (!v || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128)))) r.problem(`TRUSTED_PROXIES entry ${JSON.stringify(p)} must be an IP address or CIDR`);
  }
  const abuse: AbuseSettings = {
    enabled: r.oneOf("RATE_LIMITS", "on", ["on", "off"] as const) === "on",
    trustedProxies,
    rates,
    socketsPerIp: r.int("MAX_SOCKETS_PER_IP", DEFAULT_ABUSE.socketsPerIp, 1, 100_000),
    inFlightPerSocket: r.int("MAX_IN_FLIGHT_PER_SOCKET", DEFAULT_ABUSE.inFlightPerSocket, 1, 1000),
    abusiveRefusals: r.int("CHAT_ABUSE_CLOSE_AFTER", DEFAULT_ABUSE.abusiveRefusals, 1, 100_000),
    penaltyBoxMs: r.int("RATE_LIMIT_PENALTY_BOX_MS", DEFAULT_ABUSE.penaltyBoxMs, 0, 60_000),
  };
  if (appEnv === "production" && !abuse.enabled) r.problem("RATE_LIMITS=off is refused when APP_ENV=production");
  const visitorIdKey = r.secret("VISITOR_ID_KEY") ?? DEFAULT_VISITOR_KEY;
  if (visitorIdKey !== DEFAULT_VISITOR_KEY && visitorIdKey.length < 32) r.problem("VISITOR_ID_KEY must be at least 32 characters");
  return { apiKeys, abuse, visitorIdKey, metricsToken: r.secret("METRICS_TOKEN") ?? null };
}
