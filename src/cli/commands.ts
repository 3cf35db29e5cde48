/** The commands of CLI.md, each a thin layer over a library function. */
import { Option, type Command } from "commander";
import { UsageError } from "../errors.js";
import { readCatalog } from "../db/catalog.js";
import { classifyConnectionError, connect } from "../db/connect.js";
import { describePlan, planTenants } from "../db/plan.js";
import { dump, snapshotResult } from "../dump/dump.js";
import { MAX_ZSTD_LEVEL, MIN_ZSTD_LEVEL } from "../format/zstd.js";
import { findSnapshot, listSnapshots } from "../snapshots/list-snapshots.js";
import { openStorage } from "../storage/open-storage.js";
import type { Storage } from "../storage/storage.js";
import type { ResolvedConfig } from "../config/config.js";
import type { CommandContext } from "./main.js";
import { formatBytes, formatTable } from "./output.js";

type ContextFor = (cmd: Command) => CommandContext;

const collect = (value: string, previous: string[] = []) => [...previous, value];
/** Parser of comma-separated, repeatable list flags (`--tables a,b --tables c`); commas inside double quotes stay. */
export const list = (value: string, previous: string[] = []): string[] => [
  ...previous,
  ...(value.match(/(?:"(?:[^"]|"")*"|[^,"])+/g) ?? []).map((s) => s.trim()).filter(Boolean),
];

function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new UsageError("USAGE_BAD_NUMBER", `${name} must be an integer from ${min} to ${max}, got ${value}`);
    }
    return n;
  };
}

/** Opens the storage the resolved config names. */
export function storageOf(config: ResolvedConfig): Storage {
  return openStorage(config.storageUrl, config.s3);
}

/** Project label for commands that do not connect: config/flag, else the database name of the URL. */
export function projectWithoutDb(config: ResolvedConfig): string | undefined {
  if (config.project !== undefined) return config.project;
  if (config.dbUrl) {
    try {
      const name = decodeURIComponent(new URL(config.dbUrl).pathname.replace(/^\//, ""));
      if (name) return name;
    } catch {
      /* not a URL */
    }
  }
  return undefined;
}

/** Adds dump, list, inspect, plan and the extra commands to `program`. */
export function registerCommands(program: Command, contextFor: ContextFor): void {
  program
    .command("dump")
    .description(
      "dump every table (full), one tenant per snapshot (--tenant), or all tenants in one pass (--all-tenants)",
    )
    .option("--tenant <id>", "dump this tenant (repeatable; one snapshot each)", collect, [])
    .option("--all-tenants", "one snapshot holding every tenant, one zstd frame per tenant per table")
    .option("--tables <list>", "only these tables (comma-separated schema.table)", list, [])
    .option("--exclude-tables <list>", "leave these tables out", list, [])
    .option("--allow-empty", "write a --tenant snapshot even when no row belongs to the tenant")
    .addOption(
      new Option("--jobs <n>", "parallel workers sharing one snapshot")
        .argParser(intOption("--jobs", 1, 64))
        .default(1),
    )
    .addOption(
      new Option("--compression-level <n>", "zstd level")
        .argParser(intOption("--compression-level", MIN_ZSTD_LEVEL, MAX_ZSTD_LEVEL))
        .default(3),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  pgsnap dump\n  pgsnap dump --tenant 42 --tenant 43\n  pgsnap dump --all-tenants --jobs 2 --storage s3://backups/prod",
    )
    .action(
      async (
        opts: {
          tenant: string[];
          allTenants?: boolean;
          allowEmpty?: boolean;
          tables: string[];
          excludeTables: string[];
          jobs: number;
          compressionLevel: number;
        },
        cmd: Command,
      ) => {
        const { config, out, signal } = contextFor(cmd);
        const storage = storageOf(config);
        try {
          const results = await dump({
            connection: { url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs },
            storage,
            project: config.project,
            tenantColumn: config.tenantColumn,
            rules: config.rules,
            tenants: opts.tenant,
            allTenants: opts.allTenants === true,
            allowEmpty: opts.allowEmpty === true,
            tables: opts.tables,
            excludeTables: opts.excludeTables,
            jobs: opts.jobs,
            compressionLevel: opts.compressionLevel,
            signal,
            onProgress: (e) =>
              out.progress(`[${e.done}/${e.total}] ${e.table}: ${e.rows} rows, ${formatBytes(e.storedBytes)}`),
          });
          out.progressDone();
          out.result({ snapshots: results }, () =>
            results
              .map(
                (r) =>
                  `snapshot ${r.id} (${r.scope}${r.tenants && r.scope === "tenant" ? ` ${r.tenants.join(",")}` : ""}): ${r.tables.length} tables, ${r.rows} rows, ${formatBytes(r.storedBytes)} in ${(r.durationMs / 1000).toFixed(1)} s → ${r.location}`,
              )
              .join("\n"),
          );
        } finally {
          await storage.close();
        }
      },
    );

  program
    .command("list")
    .description("list complete snapshots, newest first")
    .option("--tenant <id>", "only snapshots that contain this tenant")
    .action(async (opts: { tenant?: string }, cmd: Command) => {
      const { config, out, signal } = contextFor(cmd);
      const storage = storageOf(config);
      try {
        const manifests = await listSnapshots(storage, projectWithoutDb(config), {
          tenant: opts.tenant,
          signal,
          onSkip: (key, err) => out.info(`pgsnap: warning: skipping ${key}: ${err.message}`),
        });
        const snapshots = manifests.map((m) => ({
          id: m.id,
          project: m.project,
          scope: m.scope,
          tenants: m.tenants,
          createdAt: m.createdAt,
          rows: m.rows,
          storedBytes: m.storedBytes,
        }));
        out.result({ snapshots }, () =>
          snapshots.length === 0
            ? `no snapshots in ${storage.location}`
            : formatTable(
                ["ID", "PROJECT", "SCOPE", "TENANTS", "CREATED", "ROWS", "SIZE"],
                snapshots.map((s) => [
                  s.id,
                  s.project,
                  s.scope,
                  s.tenants === null ? "-" : s.tenants.length > 3 ? `${s.tenants.length} tenants` : s.tenants.join(","),
                  s.createdAt,
                  s.rows,
                  formatBytes(s.storedBytes),
                ]),
              ),
        );
      } finally {
        await storage.close();
      }
    });

  program
    .command("inspect")
    .description("show a snapshot's manifest")
    .argument("<snapshot>", "snapshot id or latest")
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const { config, out, signal } = contextFor(cmd);
      const storage = storageOf(config);
      try {
        const m = await findSnapshot(storage, projectWithoutDb(config), ref, {
          signal,
          onChoice: (c) => out.info(`pgsnap: ${c.reason}`),
        });
        out.result(m, () => {
          const r = snapshotResult(m, storage);
          return [
            `snapshot ${m.id}  project ${m.project}  scope ${m.scope}${m.tenants ? `  tenants ${m.tenants.length > 5 ? `${m.tenants.length}` : m.tenants.join(",")}` : ""}`,
            `created ${m.createdAt}  server ${m.server.version}  pgsnap ${m.tool.version}  format v${m.version}`,
            `location ${r.location}`,
            "",
            formatTable(
              ["TABLE", "SCOPE", "ROWS", "BYTES", "STORED", "FRAMES"],
              m.tables.map((t) => [
                t.table,
                t.scope,
                t.rows,
                formatBytes(t.bytes),
                formatBytes(t.storedBytes),
                t.frames ? t.frames.length : "-",
              ]),
            ),
          ].join("\n");
        });
      } finally {
        await storage.close();
      }
    });

  program
    .command("plan")
    .description("show how every table's rows are told apart by tenant")
    .option("--tenant <id>", "show the filters for this tenant")
    .action(async (opts: { tenant?: string }, cmd: Command) => {
      const { config, out } = contextFor(cmd);
      const client = await connect({ url: config.dbUrl, ioTimeoutMs: config.ioTimeoutMs });
      try {
        const catalog = await readCatalog(client);
        const plan = planTenants(catalog, config.tenantColumn, config.rules);
        const tables = describePlan(plan, opts.tenant);
        out.result({ tenantColumn: config.tenantColumn, tables }, () =>
          formatTable(
            ["TABLE", "SCOPE", "PATH / FILTER"],
            tables.map((t) => [
              t.table,
              t.scope,
              t.scope === "via" ? `${t.path.join(" → ")}  (${t.via})` : (t.filter ?? ""),
            ]),
          ),
        );
      } catch (err) {
        throw classifyConnectionError(err, { url: config.dbUrl, clients: [client], during: "pgsnap plan" }) ?? err;
      } finally {
        await client.end().catch(() => {});
      }
    });

  for (const register of extraCommands) register(program, contextFor);
}

/** Further commands (restore, tenants, ...) register themselves here. */
export const extraCommands: ((program: Command, contextFor: ContextFor) => void)[] = [];
