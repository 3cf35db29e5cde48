import { configDefaults, defineConfig } from "vitest/config";

/**
 * Projects:
 * - `unit`: pure tests beside the code and the storage suite; no PostgreSQL.
 * - `pg15`, `pg17`: everything else under test/, each against one embedded PostgreSQL server
 *   started once by test/helpers/global-setup.ts.
 * - `pg` instead of those two when PGSNAP_TEST_DATABASE_URL is set (one server, whatever major).
 * - `fixtures15`, `fixtures17` (`fixtures` with PGSNAP_TEST_DATABASE_URL): the tests that load the
 *   pagila fixture (PGSNAP_PAGILA_DIR, default ../shared/fixtures/pagila), `test/**\/*.fixtures.test.ts`;
 *   present only under PGSNAP_TEST_FIXTURES=1 (`npm run test:fixtures`), so that `npm test` runs
 *   from a clone alone.
 * - `s3`: the S3 storage suite and the S3 end-to-end tests, against one real S3 server started
 *   once by test/helpers/s3-global-setup.ts (radosgw, or PGSNAP_TEST_S3_ENDPOINT) and PostgreSQL
 *   (the first major above).
 * - `container`: the image built from docker/Dockerfile, run with podman; only when
 *   PGSNAP_TEST_IMAGE names that image (test/docker/run.sh builds it and sets it).
 *
 * Tests under test/ spawn bin/pgsnap.js, which runs dist/: `npm test` builds first.
 */
const externalDatabase = Boolean(process.env.PGSNAP_TEST_DATABASE_URL);

/** Test files that need the pagila fixture (only the `fixtures*` projects run them). */
const fixtureFiles = ["test/**/*.fixtures.test.ts"];
const withFixtures = process.env.PGSNAP_TEST_FIXTURES === "1";

/** Test files that need the real S3 server (only the `s3` project runs them). */
const s3Files = ["test/s3.test.ts", "test/s3-*.test.ts", "test/storage/s3-*.test.ts"];

const pgProject = (name: string, major?: 15 | 17, include = ["test/**/*.test.ts"]) => ({
  extends: true as const,
  test: {
    name,
    include,
    exclude: [
      ...configDefaults.exclude,
      "test/storage/**",
      "test/docker/**",
      ...s3Files,
      ...(include === fixtureFiles ? [] : fixtureFiles),
    ],
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
          // As bin/pgsnap.js runs node: src/format/gc-pacer.test.ts checks what the flag enables.
          execArgv: ["--expose-gc"],
          exclude: [...configDefaults.exclude, ...s3Files],
        },
      },
      {
        extends: true,
        test: {
          name: "s3",
          include: s3Files,
          globalSetup: ["test/helpers/global-setup.ts", "test/helpers/s3-global-setup.ts"],
          env: externalDatabase ? {} : { PGSNAP_TEST_PG_MAJOR: "15" },
        },
      },
      ...(process.env.PGSNAP_TEST_IMAGE
        ? [{ extends: true as const, test: { name: "container", include: ["test/docker/container.test.ts"] } }]
        : []),
      ...(externalDatabase ? [pgProject("pg")] : [pgProject("pg15", 15), pgProject("pg17", 17)]),
      ...(!withFixtures
        ? []
        : externalDatabase
          ? [pgProject("fixtures", undefined, fixtureFiles)]
          : [pgProject("fixtures15", 15, fixtureFiles), pgProject("fixtures17", 17, fixtureFiles)]),
    ],
  },
});
