import type { EnvReader } from "./reader.ts";
import type { Config } from "./types.ts";

/** DASHBOARD_*, ALERT_WEBHOOK_*, WIDGET_*: dashboard sign-in, alert delivery and the chat widget's identity tokens. */
export function dashboardSection(r: EnvReader, appEnv: Config["env"]): Config["dashboard"] {
  const widgetIdentitySecret = r.secret("WIDGET_IDENTITY_SECRET") ?? null;
  const alertWebhookSecret = r.secret("ALERT_WEBHOOK_SECRET") ?? null;
  if (widgetIdentitySecret !== null && widgetIdentitySecret.length < 32) r.problem("WIDGET_IDENTITY_SECRET must be at least 32 characters");
  const widgetRequireIdentity = r.bool("WIDGET_REQUIRE_IDENTITY", false);
  if (widgetRequireIdentity && !widgetIdentitySecret) r.problem("WIDGET_REQUIRE_IDENTITY=true needs WIDGET_IDENTITY_SECRET");
  let bootstrapAdmin: Config["dashboard"]["bootstrapAdmin"] = null;
  const adminEmail = r.str("DASHBOARD_ADMIN_EMAIL", "");
  const adminPassword = r.secret("DASHBOARD_ADMIN_PASSWORD");
  if (adminEmail && adminPassword) bootstrapAdmin = { email: adminEmail, password: adminPassword };
  else if (adminEmail || adminPassword) r.problem("DASHBOARD_ADMIN_EMAIL and DASHBOARD_ADMIN_PASSWORD (or _FILE) go together");
  if (adminPassword && adminPassword.length < 12) r.problem("DASHBOARD_ADMIN_PASSWORD must be at least 12 characters");
  return {
    cookieSecure: r.bool("DASHBOARD_COOKIE_SECURE", appEnv === "production"),
    sessionTtlHours: r.int("DASHBOARD_SESSION_TTL_HOURS", 12, 1, 24 * 30),
    sessionRecheckSeconds: r.int("DASHBOARD_SESSION_RECHECK_SECONDS", 5, 1, 300),
    passwordCheckNice: r.int("DASHBOARD_PASSWORD_CHECK_NICE", 10, 0, 19),
    alertWebhookUrl: r.url("ALERT_WEBHOOK_URL", ["http:", "https:"]),
    alertWebhookSecret,
    widgetIdentitySecret,
    widgetRequireIdentity,
    bootstrapAdmin,
  };
}
