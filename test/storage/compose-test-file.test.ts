/**
 * docker/compose.test.yaml (MinIO and PostgreSQL for running the suites against your own
 * servers, README) checked without Docker: the services, loopback-only ports, and credentials
 * that match what the suite's defaults expect (s3-global-setup.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";
import { parse } from "yaml";

import { repoRoot } from "../helpers/postgres.js";

interface Service {
  image: string;
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: unknown;
}

const file = parse(readFileSync(join(repoRoot, "docker", "compose.test.yaml"), "utf8")) as {
  services: Record<string, Service>;
};

describe("docker/compose.test.yaml", () => {
  it("has MinIO and PostgreSQL, each with a health check, on 127.0.0.1 only", () => {
    expect(Object.keys(file.services).sort()).toEqual(["minio", "postgres"]);
    for (const [name, service] of Object.entries(file.services)) {
      expect(service.healthcheck, name).toBeDefined();
      for (const port of service.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:/);
    }
    expect(file.services["minio"]?.image).toMatch(/^minio\/minio/);
    expect(file.services["postgres"]?.image).toMatch(/^postgres:/);
  });

  it("uses the keys PGSNAP_TEST_S3_ACCESS_KEY / _SECRET_KEY default to, and the documented endpoint", () => {
    const minio = file.services["minio"];
    expect(minio?.environment).toMatchObject({ MINIO_ROOT_USER: "minioadmin", MINIO_ROOT_PASSWORD: "minioadmin" });
    expect(minio?.ports).toContain("127.0.0.1:9000:9000");
    const setup = readFileSync(join(repoRoot, "test", "helpers", "s3-global-setup.ts"), "utf8");
    expect(setup).toContain('PGSNAP_TEST_S3_ACCESS_KEY ?? "minioadmin"');
    expect(setup).toContain('PGSNAP_TEST_S3_SECRET_KEY ?? "minioadmin"');
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    expect(readme).toContain("PGSNAP_TEST_S3_ENDPOINT=http://127.0.0.1:9000");
    expect(readme).toContain(
      `PGSNAP_TEST_DATABASE_URL=postgres://postgres:${file.services["postgres"]?.environment?.["POSTGRES_PASSWORD"]}@127.0.0.1:5432/postgres`,
    );
  });
});
