import type { EnvReader } from "./reader.ts";
import type { Config } from "./types.ts";

/** OTEL_* and SENTRY_*: tracing export and error reporting, each off unless its endpoint or DSN is set. */
export function telemetrySection(r: EnvReader, appEnv: Config["env"]): Config["telemetry"] {
  const otlpBase = r.url("OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]);
  const otlpTraces = r.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ["http:", "https:"]);
  const otlpHeaders: Record<string, string> = {};
  for (const pair of (r.secret("OTEL_EXPORTER_OTLP_HEADERS") ?? "").split(",").filter((p) => p.trim())) {
    const eq = pair.indexOf("=");
    if (eq <= 0) r.problem("OTEL_EXPORTER_OTLP_HEADERS must be k=v pairs separated by commas");
    else otlpHeaders[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
  }
  const sampleRaw = r.str("OTEL_TRACES_SAMPLER_ARG", "1");
  const sampleRatio = Number(sampleRaw);
  const validRatio = sampleRatio >= 0 && sampleRatio <= 1;
  if (!validRatio) r.problem(`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(sampleRaw)} must be a number in [0, 1]`);
  return {
    serviceName: r.str("OTEL_SERVICE_NAME", "support-copilot"),
    otlpEndpoint: otlpTraces ?? (otlpBase ? `${otlpBase.replace(/\/+$/, "")}/v1/traces` : null),
    otlpHeaders,
    sampleRatio: validRatio ? sampleRatio : 1,
    sentryDsn: r.url("SENTRY_DSN", ["http:", "https:"]),
    sentryEnvironment: r.str("SENTRY_ENVIRONMENT", appEnv),
  };
}
