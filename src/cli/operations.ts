/** The operations config for `run`, `schedule`, `config` and `notify`, with its secrets redacted in output. */
import type { Command } from "commander";
import type { LoadOperationsOptions, Operations } from "../config/operations.js";
import type { CliGlobals, CommandContext, ContextFor } from "./context.js";

/**
 * Context and operations config; several projects are fine here (these commands cover them all).
 * The operations loader is imported here, at use, so the other commands never load it (issue 14).
 */
export async function operationsFor(
  cmd: Command,
  contextFor: ContextFor,
  options: LoadOperationsOptions & { healthPort?: number | undefined } = {},
): Promise<{ ctx: CommandContext; ops: Operations }> {
  const ctx = contextFor(cmd, { projectRequired: false });
  const { loadOperations } = await import("../config/operations.js");
  const flags = cmd.optsWithGlobals<CliGlobals>();
  const ops = loadOperations({ ...flags, healthPort: options.healthPort }, undefined, options);
  // The same array the error printer and the output redact with.
  ctx.config.secrets.push(...ops.secrets);
  return { ctx, ops };
}
