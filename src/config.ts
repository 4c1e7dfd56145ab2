/** The typed configuration, split by section under src/config/ (one secret reader, one problem list). */
export { ConfigError, consumerGroups, loadConfig, type Config, type Env } from "./config/index.ts";
