import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * Test-only guard for a race in Playwright's client under Bun: right after a navigation the client can receive an
 * event (a WebSocket frame of the closing page) for an object it has already dropped, and its dispatcher throws
 * "Cannot find object to frameReceived", which closes the browser for every later test. Such events have no listener
 * left, so they are dropped here, as Playwright's server already does for objects it disposed.
 */
{
  const connectionFile = join(dirname(createRequire(import.meta.url).resolve("playwright-core/package.json")), "lib/client/connection.js");
  const { Connection } = createRequire(import.meta.url)(connectionFile) as {
    Connection: { prototype: { dispatch(m: { id?: number; guid?: string; method?: string }): void; _objects: Map<string, unknown> } };
  };
  const dispatch = Connection.prototype.dispatch;
  Connection.prototype.dispatch = function (message) {
    if (!message.id && message.guid && message.method !== "__create__" && !this._objects.has(message.guid)) return;
    return dispatch.call(this, message);
  };
}

