import pino from "pino";

/** Structured JSON logger; secrets and message text are redacted by path so they never reach the log sink. */
export type Logger = pino.Logger;

/** Creates the root logger; child loggers add `component` and the correlation id (`msg_id`). */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: "support-copilot", ...bindings },
    redact: {
      paths: ["password", "*.password", "apiKey", "*.apiKey", "authorization", "*.authorization", "text", "*.text", "email", "*.email", "user.name"],
      censor: "[redacted]",
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** Masks an email for logs: keeps the first character and the domain. */
export function maskEmail(email: string): string {
  const at = email.indexOf("@");
  if (at <= 0) return "***";
  return `${email[0]}***${email.slice(at)}`;
}
