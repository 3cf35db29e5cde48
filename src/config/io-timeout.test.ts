import { describe, expect, it } from "vitest";
import { UsageError } from "../errors.js";
import { knownSecrets, resolveConfig } from "./config.js";

describe("--io-timeout / PGSNAP_IO_TIMEOUT", () => {
  it("defaults to 300 s, takes seconds from the flag over the environment, 0 = off", () => {
    expect(resolveConfig({ config: undefined }, {}).ioTimeoutMs).toBe(300_000);
    expect(resolveConfig({}, { PGSNAP_IO_TIMEOUT: "2" }).ioTimeoutMs).toBe(2_000);
    expect(resolveConfig({ ioTimeout: "0.5" }, { PGSNAP_IO_TIMEOUT: "2" }).ioTimeoutMs).toBe(500);
    expect(resolveConfig({ ioTimeout: "0" }, {}).ioTimeoutMs).toBe(0);
  });

  it("refuses what is not a number of seconds (exit 2)", () => {
    for (const bad of ["soon", "-1", "Infinity"]) {
      expect(() => resolveConfig({ ioTimeout: bad }, {}), bad).toThrow(UsageError);
    }
  });
});

describe("secrets known before any config is read", () => {
  it("holds PGPASSWORD, the S3 secret key and every password form of --db and DATABASE_URL", () => {
    const s = knownSecrets(
      { db: "host=h password='kw secret'" },
      {
        PGPASSWORD: "env-pass",
        PGSNAP_S3_SECRET_KEY: "s3-secret",
        DATABASE_URL: "postgres://u@h/db?password=url-pass",
      },
    );
    for (const x of ["env-pass", "s3-secret", "kw secret", "url-pass"]) expect(s).toContain(x);
  });
});
