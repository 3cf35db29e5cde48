/**
 * pgsnap's public library API: every command of the CLI is one of these functions with a thin
 * wrapper around it (src/cli). Import from "pgsnap".
 */
export * from "./errors.js";
export { dump, type DumpOptions, type DumpProgress, type SnapshotResult, type TableResult } from "./dump/dump.js";
export {
  restore,
  type RestoreMode,
  type RestoreOptions,
  type RestoreResult,
  type RestoreTableResult,
} from "./restore/restore.js";
export { extract, type ExtractOptions } from "./extract/extract.js";
export {
  verifySnapshot,
  assertVerified,
  markVerified,
  type VerifyOptions,
  type VerifyResult,
} from "./verify/verify.js";
export { restoreTest } from "./verify/restore-test.js";
export { prune, applyPolicy, type PruneOptions, type PruneResult, type RetentionPolicy } from "./prune/prune.js";
export { listSnapshots, findSnapshot, type SnapshotFilter } from "./snapshots/list-snapshots.js";
export { listTenants, type TenantInfo, type ListTenantsOptions } from "./db/tenants.js";
export { readCatalog, type Catalog, type TableInfo, type ColumnInfo } from "./db/catalog.js";
export {
  planTenants,
  describePlan,
  type TenantPlan,
  type TablePlan,
  type TableRule,
  type TableScope,
} from "./db/plan.js";
export type { ConnectOptions } from "./db/connect.js";
export { openStorage } from "./storage/open-storage.js";
export type { Storage, S3Settings, ObjectInfo, ByteRange } from "./storage/storage.js";
export {
  parseManifest,
  type Manifest,
  type ManifestTable,
  type FrameEntry,
  type SnapshotScope,
} from "./format/manifest.js";
export {
  resolveConfig,
  loadConfigFile,
  type ResolvedConfig,
  type ConfigFile,
  type ProjectConfig,
} from "./config/config.js";
export { checkConfig } from "./config/load.js";
export {
  configJsonSchema,
  type JobConfig,
  type NotifierConfig,
  type NotifyOn,
  type ConfigProblem,
} from "./config/schema.js";
export {
  loadOperations,
  selectJobs,
  type Operations,
  type ProjectTarget,
  type JobDefinition,
  type JobScope,
  type JobRetention,
  type Notifier,
} from "./config/operations.js";
export { runJob, runJobs, summaryExitCode, type RunJobOptions, type RunEvent } from "./jobs/run-job.js";
export { findAnomalies } from "./jobs/anomalies.js";
export type { RunSummary, JobRun, ProjectRun, RunStatus, RunError } from "./notify/summary.js";
export {
  createNotifier,
  deliver,
  notifyRun,
  testNotifiers,
  NotifyError,
  type Notifier as NotifierImplementation,
} from "./notify/notify.js";
export { nextRun, nextRuns, previousRun } from "./schedule/cron.js";
export { runSchedule, initialState, jobHealthy, type ScheduleOptions, type JobState } from "./schedule/scheduler.js";
export { startHealthServer, healthReport, metricsText } from "./schedule/health-server.js";
export { systemClock, ManualClock, type Clock } from "./schedule/clock.js";
