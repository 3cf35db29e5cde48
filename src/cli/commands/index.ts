/**
 * Every command of the CLI, in the order `pgsnap --help` lists them. A new command is one file in
 * this folder exporting `register<Name>(program, contextFor)` and one line in this list.
 */
import type { RegisterCommand } from "../context.js";
import { registerConfig } from "./config.js";
import { registerDoctor } from "./doctor.js";
import { registerDump } from "./dump.js";
import { registerExtract } from "./extract.js";
import { registerInspect } from "./inspect.js";
import { registerList } from "./list.js";
import { registerNotify } from "./notify.js";
import { registerPlan } from "./plan.js";
import { registerPrune } from "./prune.js";
import { registerReport } from "./report.js";
import { registerRestore } from "./restore.js";
import { registerRun } from "./run.js";
import { registerSchedule } from "./schedule.js";
import { registerTenants } from "./tenants.js";
import { registerVerify } from "./verify.js";

export const commands: readonly RegisterCommand[] = [
  registerDump,
  registerList,
  registerInspect,
  registerPlan,
  registerRestore,
  registerTenants,
  registerExtract,
  registerVerify,
  registerPrune,
  registerRun,
  registerSchedule,
  registerConfig,
  registerNotify,
  registerDoctor,
  registerReport,
];
