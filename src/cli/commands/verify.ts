/** `pgsnap verify`: checksums and row counts of every object, optionally a test restore. */
import type { Command } from "commander";
import type { VerifyResult } from "../../verify/verify.js";
import { IntegrityError } from "../../errors.js";
import type { ContextFor } from "../context.js";
import { countOf, ExitWith } from "../output.js";
import { projectWithoutDb, storageOf } from "../targets.js";

/** Adds `verify` to the program. */
export function registerVerify(program: Command, contextFor: ContextFor): void {
  program
    .command("verify")
    .description("check every object of a snapshot: sha256, full decompression, row counts; optionally a test restore")
    .argument("<snapshot>", "snapshot id or latest")
    .option("--restore-test", "also load every table into scratch tables of --db and compare (rolled back)")
    .addHelpText(
      "after",
      "\nExamples:\n  pgsnap verify latest\n  pgsnap verify latest --restore-test --db $DATABASE_URL",
    )
    .action(async (ref: string, opts: { restoreTest?: boolean }, cmd: Command) => {
      const { config, out, signal } = contextFor(cmd);
      const [{ restoreTest }, { assertVerified, markVerified, verifySnapshot }] = await Promise.all([
        import("../../verify/restore-test.js"),
        import("../../verify/verify.js"),
      ]);
      const storage = storageOf(config);
      try {
        const { manifest, result } = await verifySnapshot({
          storage,
          project: projectWithoutDb(config),
          snapshot: ref,
          signal,
          onProgress: (t) => out.progress(`verifying ${t}`),
          onChoice: (c) => out.info(`pgsnap: ${c.reason}`),
        });
        if (opts.restoreTest && result.ok) {
          result.restoreTest = await restoreTest(
            { url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs },
            storage,
            manifest,
            signal,
          );
          result.ok = result.restoreTest.ok;
        }
        out.progressDone();
        if (result.ok) await markVerified(storage, manifest, opts.restoreTest === true);
        if (!result.ok && out.options.json) {
          // One JSON document with every object's verdict (not only the first problem) and the error.
          const err = verificationError(result, assertVerified);
          out.result(
            {
              ...result,
              error: { code: err.code, message: err.message, hint: err.hint ?? null, exitCode: err.exitCode },
            },
            () => "",
          );
          process.stderr.write(`pgsnap: error: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ""}`);
          throw new ExitWith(err.exitCode);
        }
        assertVerified(result);
        out.result(
          result,
          () =>
            `snapshot ${result.snapshot}: ${countOf(result.objects.length, "object")}, ${countOf(
              result.objects.reduce((a, o) => a + o.rows, 0),
              "row",
            )} verified` +
            (result.restoreTest
              ? `; restore test passed on ${countOf(result.restoreTest.tables.length, "table")}`
              : ""),
        );
      } finally {
        await storage.close();
      }
    });
}

/** The error `assertVerified` throws for a failed result. */
function verificationError(result: VerifyResult, assertVerified: (r: VerifyResult) => void): IntegrityError {
  try {
    assertVerified(result);
  } catch (err) {
    if (err instanceof IntegrityError) return err;
    throw err;
  }
  return new IntegrityError("VERIFY_FAILED", `snapshot ${result.snapshot} failed verification`);
}
