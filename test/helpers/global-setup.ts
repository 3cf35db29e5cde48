/**
 * vitest globalSetup of the `pg15` / `pg17` projects (vitest.config.ts): starts one PostgreSQL
 * server for the whole run — the embedded major named by the project's `PGSNAP_TEST_PG_MAJOR`,
 * or the server of `PGSNAP_TEST_DATABASE_URL` — and provides it to the tests:
 *
 *     import { inject } from "vitest";
 *     const serverUrl = inject("pgUrl");
 *
 * A server that cannot be started or reached fails the run: there is no skip.
 */
import type { TestProject } from "vitest/node";
import { startTestServer } from "./postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL of the test server (its `postgres` database, or PGSNAP_TEST_DATABASE_URL). */
    pgUrl: string;
    /** Major version the server reports. */
    pgMajor: number;
    /** True when the server is the developer's (PGSNAP_TEST_DATABASE_URL), not an embedded one. */
    pgExternal: boolean;
  }
}

/** Starts the server; the returned function stops it when the run ends. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const raw = project.config.env?.PGSNAP_TEST_PG_MAJOR ?? process.env.PGSNAP_TEST_PG_MAJOR;
  const major = raw ? Number(raw) : undefined;
  if (major !== undefined && !Number.isInteger(major)) {
    throw new Error(`PGSNAP_TEST_PG_MAJOR must be a number, got ${String(raw)}`);
  }
  const started = Date.now();
  const server = await startTestServer(major);
  if (process.env.PGSNAP_TEST_VERBOSE) {
    const where = server.external ? "PGSNAP_TEST_DATABASE_URL" : "embedded";
    console.error(`[${project.name}] PostgreSQL ${server.major} (${where}) ready in ${Date.now() - started} ms`);
  }
  project.provide("pgUrl", server.url);
  project.provide("pgMajor", server.major);
  project.provide("pgExternal", server.external);
  return () => server.stop();
}
