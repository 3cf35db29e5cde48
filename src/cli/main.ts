/**
 * The pgsnap command line (CLI.md). Thin wiring: flags → library calls → output → exit code.
 * Only this folder touches process.argv, process.exit, stdout and stderr.
 */
import { Command, CommanderError, Option } from "commander";
import { ExitCode, InterruptedError, PgsnapError, redactSecrets } from "../errors.js";
import { knownSecrets, resolveConfig, type ResolveOptions } from "../config/config.js";
import { toolVersion } from "../version.js";
import { commands } from "./commands/index.js";
import type { CliGlobals, CommandContext } from "./context.js";
import { ExitWith, Output } from "./output.js";

const controller = new AbortController();
let secrets: string[] = [];
let jsonMode = process.argv.includes("--json");
/** Exit code a command chose for a result it printed itself (`run` with a failed project). */
let resultCode = 0;

function buildProgram(): Command {
  const program = new Command("pgsnap")
    .description("Tenant-aware PostgreSQL backups: dump and restore one tenant without touching the others.")
    .version(toolVersion, "-V, --version")
    .addOption(new Option("--db <url>", "database URL (env DATABASE_URL, else libpq PG* variables)"))
    .addOption(
      new Option("--storage <url>", "a directory or s3://bucket/prefix (env PGSNAP_STORAGE, default ./backups)"),
    )
    .addOption(
      new Option("--config <file>", "config file (env PGSNAP_CONFIG, default ./pgsnap.config.json if present)"),
    )
    .addOption(
      new Option(
        "--project <name>",
        "project: a config key or a label (env PGSNAP_PROJECT, default the database name)",
      ),
    )
    .addOption(new Option("--tenant-column <col>", "tenant key column (env PGSNAP_TENANT_COLUMN, default user_id)"))
    .addOption(
      new Option(
        "--io-timeout <seconds>",
        "fail (exit 10/11) when a database or storage connection moves no bytes this long; 0 = off (env PGSNAP_IO_TIMEOUT, default 300)",
      ),
    )
    .option("--json", "print exactly one JSON document on stdout; logs go to stderr")
    .option("-q, --quiet", "print only errors")
    .option("-v, --verbose", "print more detail on stderr")
    .option("--no-progress", "no progress lines (default: progress only on a TTY)")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      `
Examples:
  pgsnap plan --tenant-column store_id
  pgsnap dump --tenant 42                     one tenant, one snapshot
  pgsnap dump --all-tenants --jobs 2          every tenant, one frame per tenant
  pgsnap list --tenant 42
  pgsnap restore latest --tenant 42 --dry-run
  pgsnap restore latest --tenant 42 --confirm

Exit codes: 0 ok, 1 bug, 2 usage/config, 3 refused for safety, 10 database connection,
11 storage, 12 integrity, 13 locked, 130 interrupted.`,
    );
  program.exitOverride();
  program.configureOutput({
    writeErr: (s) => process.stderr.write(redactSecrets(s, secrets)),
    writeOut: (s) => process.stdout.write(s),
  });
  for (const register of commands) register(program, contextFor);
  return program;
}

function contextFor(cmd: Command, options?: ResolveOptions): CommandContext {
  const g = cmd.optsWithGlobals<CliGlobals>();
  jsonMode = g.json === true;
  secrets = knownSecrets(g);
  const config = resolveConfig(g, undefined, options);
  secrets = config.secrets;
  const out = new Output({
    json: g.json === true,
    quiet: g.quiet === true,
    verbose: g.verbose === true,
    // Progress only for a person watching: never into a pipe, under --json or with -q.
    progress: g.progress !== false && process.stderr.isTTY === true && g.json !== true && g.quiet !== true,
    secrets,
  });
  return { config, out, signal: controller.signal, setExitCode: (c) => (resultCode = c) };
}

function printError(err: PgsnapError): void {
  const clean = (s: string) => redactSecrets(s, secrets);
  if (jsonMode) {
    process.stdout.write(
      JSON.stringify({
        error: {
          code: err.code,
          message: clean(err.message),
          hint: err.hint ? clean(err.hint) : null,
          exitCode: err.exitCode,
        },
      }) + "\n",
    );
  }
  process.stderr.write(`pgsnap: error: ${clean(err.message)}\n`);
  const hint =
    err.hint ?? (err.exitCode === ExitCode.usage ? "see pgsnap --help (or pgsnap <command> --help)" : undefined);
  if (hint) process.stderr.write(`hint: ${clean(hint)}\n`);
}

async function main(argv: string[]): Promise<number> {
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(ExitCode.interrupted);
    interrupted = true;
    process.stderr.write(`pgsnap: ${sig} received, stopping (nothing half-done is kept)…\n`);
    controller.abort(new InterruptedError(`interrupted by ${sig}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await buildProgram().parseAsync(argv);
    return resultCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help")
        return 0;
      // commander already printed the message and the --help pointer on stderr.
      if (jsonMode) {
        const message = err.message.replace(/^error: /, "");
        process.stdout.write(
          JSON.stringify({ error: { code: "USAGE", message, hint: "see pgsnap --help", exitCode: ExitCode.usage } }) +
            "\n",
        );
      }
      return ExitCode.usage;
    }
    if (err instanceof ExitWith) return err.exitCode;
    if (interrupted && !(err instanceof PgsnapError && err.exitCode !== ExitCode.internal)) {
      printError(new InterruptedError());
      return ExitCode.interrupted;
    }
    if (err instanceof PgsnapError) {
      printError(err);
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(
      redactSecrets(`pgsnap: internal error (a bug, please report it): ${e?.stack ?? String(err)}\n`, secrets),
    );
    if (jsonMode)
      process.stdout.write(
        JSON.stringify({
          error: { code: "INTERNAL", message: redactSecrets(String(e?.message ?? err), secrets), exitCode: 1 },
        }) + "\n",
      );
    return ExitCode.internal;
  }
}

const code = await main(process.argv);
// Let stdout drain before exiting with the code.
process.exitCode = code;
setTimeout(() => process.exit(code), 50).unref();
