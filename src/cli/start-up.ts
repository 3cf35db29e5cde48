/**
 * Imported first by main.ts, for a faster start (issue 14: the fixed cost of every command).
 *
 * pg 8 probes for Cloudflare Workers when it loads (pg/lib/stream.js): without a `navigator`
 * global, as on Node 20 (Node 21+ has one), it constructs a fetch `Response`, which loads undici
 * (~50 ms and ~5 MiB, measured) for nothing. pg is loaded here with a stand-in `navigator` that
 * exists only while pg loads, so no other module ever sees it; later imports of pg get this
 * instance from the module cache.
 */
import { createRequire } from "node:module";

const scope = globalThis as { navigator?: unknown };
if (scope.navigator === undefined) {
  Object.defineProperty(globalThis, "navigator", {
    value: { userAgent: "Node.js" },
    configurable: true,
    writable: true,
  });
  try {
    createRequire(import.meta.url)("pg");
  } finally {
    delete scope.navigator;
  }
}
