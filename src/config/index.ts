import { consumerGroups, kafkaSection, topicsSection } from "./bus.ts";
import { channelsSection } from "./channels.ts";
import { dashboardSection } from "./dashboard.ts";
import { llmSection } from "./llm.ts";
import { pipelineSection } from "./pipeline.ts";
import { privacySection } from "./privacy.ts";
import { ConfigError, EnvReader, type Env } from "./reader.ts";
import { securitySection } from "./security.ts";
import { storageSection } from "./storage.ts";
import { telemetrySection } from "./telemetry.ts";
import type { Config } from "./types.ts";

export { ConfigError, consumerGroups, EnvReader, type Config, type Env };

/** Parses and validates the environment once, one section module at a time; collects every problem before failing. */
export function loadConfig(env: Env = process.env): Config {
  const r = new EnvReader(env);
  const appEnv = r.oneOf("APP_ENV", "development", ["development", "production", "test"] as const);
  const config: Config = {
    env: appEnv,
    role: r.oneOf("ROLE", "all", ["all", "api", "worker", "drafter"] as const),
    http: { host: r.str("HOST", "127.0.0.1"), port: r.int("PORT", 3000, 0, 65535) },
    logLevel: r.oneOf("LOG_LEVEL", appEnv === "test" ? "warn" : "info", ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const),
    topics: topicsSection(r),
    kafka: kafkaSection(r),
    ...securitySection(r, appEnv),
    ...storageSection(r),
    ...llmSection(r),
    ...pipelineSection(r),
    telemetry: telemetrySection(r, appEnv),
    channels: channelsSection(r),
    privacy: privacySection(r, appEnv),
    dashboard: dashboardSection(r, appEnv),
  };
  if (r.problems.length) throw new ConfigError(r.problems);
  return config;
}
