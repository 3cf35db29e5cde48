/**
 * The fixed cost of every command (issue 14): a command loads only the packages it uses. Each run
 * is the real CLI with test/helpers/loaded-modules.mjs preloaded, which records every CommonJS
 * module (packages included, however they were reached) and every internal module of Node.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runPgsnap, type CliResult } from "./helpers/cli.js";
import { createDatabase, loadSqlFile, repoRoot, type TestDatabase } from "./helpers/postgres.js";

const serverUrl = inject("pgUrl");
const preload = join(repoRoot, "test", "helpers", "loaded-modules.mjs");

/** Packages only some commands need: the S3 client, mail, logs, bars, cron, config checking. */
const optional = ["minio", "nodemailer", "pino", "cli-progress", "cron-parser", "luxon", "zod"];
/** Packages of the commands that connect and dump. */
const database = ["pg", "pg-copy-streams", "pg-query-stream", "zstd-napi"];

let tmpRoot: string;
let n = 0;
beforeAll(async () => {
  tmpRoot = await mkdtemp(join(tmpdir(), "pgsnap-start-up-test-"));
});
afterAll(async () => {
  await rm(tmpRoot, { recursive: true, force: true });
});

/**
 * Runs pgsnap and returns its result with the packages (from node_modules) and Node internals it
 * loaded, and `bundled`: the source modules inside the chunks of the CLI bundle it loaded
 * (`dist/...` and the bundled packages, `node_modules/pg/...`; scripts/bundle-cli.ts).
 */
async function loaded(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ r: CliResult; packages: string[]; internal: string[]; bundled: string[] }> {
  const file = join(tmpRoot, `loaded-${++n}.json`);
  const r = await runPgsnap(args, {
    cwd: options.cwd,
    env: { ...options.env, NODE_OPTIONS: `--import ${preload}`, PGSNAP_TEST_LOADED_FILE: file },
  });
  const doc = JSON.parse(await readFile(file, "utf8")) as { modules: string[]; internal: string[] };
  const packages = new Set<string>();
  for (const m of doc.modules) {
    const at = m.lastIndexOf("/node_modules/");
    if (at < 0) continue;
    const [scope, name] = m.slice(at + "/node_modules/".length).split("/");
    packages.add(scope!.startsWith("@") ? `${scope}/${name}` : scope!);
  }
  const meta = JSON.parse(await readFile(join(repoRoot, "dist", "cli-bundle.meta.json"), "utf8")) as {
    outputs: Record<string, { inputs: Record<string, unknown> }>;
  };
  const bundled = new Set<string>();
  for (const url of (await readFile(`${file}.esm`, "utf8")).split("\n").filter((u) => u !== "")) {
    const chunk = relative(repoRoot, fileURLToPath(url)).split(sep).join("/");
    for (const input of Object.keys(meta.outputs[chunk]?.inputs ?? {})) bundled.add(input);
  }
  return { r, packages: [...packages].sort(), internal: doc.internal, bundled: [...bundled].sort() };
}

/** Bundled modules of pg, of the S3 backend (but its settings, checked by openStorage), and of the dump. */
const bundledPg = (m: string) => m.startsWith("node_modules/pg/");
const s3Code = (m: string) => m.startsWith("dist/storage/s3/") && m !== "dist/storage/s3/settings.js";
const dumpCode = (m: string) => m.startsWith("dist/dump/") || m.startsWith("dist/db/");

describe("start-up: each command loads what it uses", () => {
  it("--version, --help and a command's --help load no database, storage, mail or config package", async () => {
    for (const args of [["--version"], ["--help"], ["dump", "--help"], ["restore", "--help"]]) {
      const { r, packages, internal, bundled } = await loaded(args);
      expect(r.code, r.stderr).toBe(0);
      // commander is inside the CLI bundle (scripts/bundle-cli.ts); any package loaded from
      // node_modules here means bin/pgsnap.js ran the unbundled build.
      expect(packages, args.join(" ")).toEqual([]);
      expect(bundled).toContain("node_modules/commander/index.js");
      expect(bundled.filter((m) => bundledPg(m) || s3Code(m) || dumpCode(m))).toEqual([]);
      expect(internal.filter((m) => m.includes("undici"))).toEqual([]);
    }
  });

  it("list on a local directory loads neither pg nor the S3 client", async () => {
    const { r, packages, internal, bundled } = await loaded([
      "list",
      "--storage",
      join(tmpRoot, "empty"),
      "--project",
      "p",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(packages.filter((p) => [...optional, ...database].includes(p))).toEqual([]);
    expect(bundled).toContain("dist/snapshots/list-snapshots.js");
    expect(bundled.filter((m) => bundledPg(m) || s3Code(m))).toEqual([]);
    expect(internal.filter((m) => /^NativeModule (http|https|tls|_http_client)$/.test(m))).toEqual([]);
  });

  describe("dump --tenant", () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createDatabase(serverUrl, { prefix: "pgsnap_start_up" });
      await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "schema.sql"));
      await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "data.sql"));
    });
    afterAll(async () => {
      await db?.drop();
    });

    it("without a config file loads pg (bundled) and zstd, not the optional packages, and not undici", async () => {
      const { r, packages, internal, bundled } = await loaded([
        "dump",
        "--tenant",
        "1",
        "--db",
        db.url,
        "--storage",
        join(tmpRoot, "dump"),
        "--json",
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.snapshots[0].rows).toBeGreaterThan(0);
      // pg is inside the bundle (scripts/bundle-cli.ts), zstd-napi is a native addon.
      expect(packages).toEqual(["zstd-napi"]);
      expect(bundled).toContain("node_modules/pg/lib/client.js");
      expect(bundled.filter(s3Code)).toEqual([]);
      // COPY TO is read by src/db/copy-out.ts; pg-copy-streams serves restore's COPY FROM.
      expect(packages).not.toContain("pg-copy-streams");
      expect(packages.filter((p) => optional.includes(p))).toEqual([]);
      // pg's Cloudflare probe would construct a fetch Response (src/db/load-pg.ts).
      expect(internal.filter((m) => m.includes("undici"))).toEqual([]);
      // The S3 backend (and with it Node's HTTP stack) is imported on first use only
      // (src/storage/lazy-storage.ts): a dump to a local directory never loads it.
      expect(internal.filter((m) => /^NativeModule (http|https|tls|_http_client)$/.test(m))).toEqual([]);
    });

    it("with a config file checks it (zod), and still loads no mail, log or S3 package", async () => {
      const dir = join(tmpRoot, "with-config");
      await mkdir(dir, { recursive: true });
      await writeFile(
        join(dir, "pgsnap.config.json"),
        JSON.stringify({ projects: { shop: { db: "${SHOP_DB}", storage: join(dir, "backups") } } }),
      );
      const { r, packages } = await loaded(["dump", "--tenant", "1", "--json"], { cwd: dir, env: { SHOP_DB: db.url } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.snapshots[0].project).toBe("shop");
      expect(packages).toContain("zod");
      expect(packages.filter((p) => ["minio", "nodemailer", "pino", "cli-progress"].includes(p))).toEqual([]);
    });
  });
});
