/**
 * node-postgres, loaded for src/db/connect.ts only (issue 14: the fixed cost of every command).
 *
 * pg 8 probes for Cloudflare Workers when it loads (pg/lib/stream.js): without a `navigator`
 * global, as on Node 20 (Node 21+ has one), it constructs a fetch `Response`, which loads undici
 * (~50 ms and ~5 MiB, measured) for nothing. pg is required here with a stand-in `navigator` that
 * exists only while pg loads, so no other module ever sees it. Commands that never connect (list,
 * inspect, --help, ...) never load this module, so they never load pg at all.
 */
import { createRequire } from "node:module";
import type pg from "pg";

function loadPg(): typeof pg {
  const require = createRequire(import.meta.url);
  const scope = globalThis as { navigator?: unknown };
  if (scope.navigator !== undefined) return require("pg") as typeof pg;
  Object.defineProperty(globalThis, "navigator", {
    value: { userAgent: "Node.js" },
    configurable: true,
    writable: true,
  });
  try {
    return require("pg") as typeof pg;
  } finally {
    delete scope.navigator;
  }
}

/** The pg module (the same instance `import pg from "pg"` gives elsewhere: one CommonJS cache). */
export const pgModule: typeof pg = loadPg();
