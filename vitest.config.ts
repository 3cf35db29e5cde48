import { configDefaults, defineConfig } from "vitest/config";

/**
 * Projects:
 * - `unit`: pure tests beside the code and the storage suite; no PostgreSQL.
 * - `pg15`, `pg17`: everything else under test/, each against one embedded PostgreSQL server
 *   started once by test/helpers/global-setup.ts.
 * - `pg` instead of those two when PGSNAP_TEST_DATABASE_URL is set (one server, whatever major).
 * - `container`: the image built from docker/Dockerfile, run with podman; only when
 *   PGSNAP_TEST_IMAGE names that image (test/docker/run.sh builds it and sets it).
 *
 * Tests under test/ spawn bin/pgsnap.js, which runs dist/: `npm test` builds first.
 */
const externalDatabase = Boolean(process.env.PGSNAP_TEST_DATABASE_URL);

const pgProject = (name: string, major?: 15 | 17) => ({
  extends: true as const,
  test: {
    name,
    include: ["test/**/*.test.ts"],
    exclude: [...configDefaults.exclude, "test/storage/**", "test/docker/**"],
    globalSetup: ["test/helpers/global-setup.ts"],
    env: major === undefined ? {} : { PGSNAP_TEST_PG_MAJOR: String(major) },
  },
});

export default defineConfig({
  test: {
    testTimeout: 60_000,
    // beforeAll may build the pagila template (a few seconds, longer on a busy machine).
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // Sized for 2 cores: each worker also drives a postgres backend and child processes.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/storage/**/*.test.ts", "test/docker/compose.test.ts"],
        },
      },
      ...(process.env.PGSNAP_TEST_IMAGE
        ? [{ extends: true as const, test: { name: "container", include: ["test/docker/container.test.ts"] } }]
        : []),
      ...(externalDatabase ? [pgProject("pg")] : [pgProject("pg15", 15), pgProject("pg17", 17)]),
    ],
  },
});
