import type { EnvReader } from "./reader.ts";
import type { Config } from "./types.ts";

/** DATA_KEYS_*, DATA_RETENTION_*, EMAIL_COMPANY_DOMAINS: encryption keys, retention, who may join an email thread. */
export function privacySection(r: EnvReader, appEnv: Config["env"]): Config["privacy"] {
  const dataKeysFile = r.str("DATA_KEYS_FILE", "") || null;
  if (!dataKeysFile && appEnv === "production") r.problem("DATA_KEYS_FILE is required in production (customer data is encrypted at rest)");
  const emailCompanyDomains = r.list("EMAIL_COMPANY_DOMAINS").map((d) => d.toLowerCase().replace(/^@/, "")).filter(Boolean);
  for (const d of emailCompanyDomains) if (!/^[a-z0-9.-]+\.[a-z]{2,}$/.test(d)) r.problem(`EMAIL_COMPANY_DOMAINS: ${JSON.stringify(d)} is not a domain`);
  return {
    dataKeysFile,
    devKeysFile: r.str("DATA_KEYS_DEV_FILE", ".data/data-keys.json"),
    retentionDays: r.int("DATA_RETENTION_DAYS", 0, 0, 36_500),
    retentionIntervalMinutes: r.int("DATA_RETENTION_INTERVAL_MINUTES", 60, 1, 24 * 60),
    emailCompanyDomains,
  };
}
