/** What the command files share with the program: global flags and the per-command context. */
import type { Command } from "commander";
import type { GlobalFlags, ResolvedConfig, ResolveOptions } from "../config/config.js";
import type { Output } from "./output.js";

/** Global flags plus output flags, as commander hands them to every command. */
export interface CliGlobals extends GlobalFlags {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  progress?: boolean;
}

/** What every command action receives. */
export interface CommandContext {
  config: ResolvedConfig;
  out: Output;
  signal: AbortSignal;
  /** Ends the command with this exit code after its result was printed (e.g. `run`). */
  setExitCode: (code: number) => void;
}

/** Resolves config and output for the command being run (called inside an action). */
export type ContextFor = (cmd: Command, options?: ResolveOptions) => CommandContext;

/** Adds one command (or a command group) to the program. */
export type RegisterCommand = (program: Command, contextFor: ContextFor) => void;
