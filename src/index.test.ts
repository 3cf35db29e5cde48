import { describe, expect, it } from "vitest";
import * as pgsnap from "./index.js";

describe("the library API", () => {
  it("exports every command as a function, and the error classes with their exit codes", () => {
    for (const name of [
      "dump",
      "restore",
      "extract",
      "verifySnapshot",
      "restoreTest",
      "prune",
      "listSnapshots",
      "findSnapshot",
      "listTenants",
      "planTenants",
      "openStorage",
      "parseManifest",
      "resolveConfig",
      "loadOperations",
      "runJobs",
      "runSchedule",
      "nextRuns",
      "testNotifiers",
      "configJsonSchema",
    ] as const) {
      expect(typeof pgsnap[name], name).toBe("function");
    }
    expect(new pgsnap.RefusedError("X", "m").exitCode).toBe(3);
    expect(new pgsnap.IntegrityError("X", "m").exitCode).toBe(12);
    expect(pgsnap.ExitCode.locked).toBe(13);
  });
});
