/**
 * Bundles the command line (dist/cli/main.js, the TypeScript build) into dist/cli-bundle/, which
 * bin/pgsnap.js runs. Issue 14, the fixed cost: Node's ESM loader resolves, reads and links each
 * of the ~60 modules a tenant dump imports one by one (and commander's 7 CommonJS files); one
 * module per command path is cheaper (measured in the commit that introduced this script).
 *
 * What stays out of the bundle: every npm dependency but commander. They are loaded on first use
 * (src/db/load-pg.ts, src/storage/s3/minio.ts, ...), some are native addons (zstd-napi), pino
 * starts worker threads from its own files, and pg must be one instance for pg-copy-streams and
 * pg-query-stream. Dynamic imports stay dynamic (`splitting`): a command still loads only what
 * it uses. dist/ (the library API, src/index.ts) is left as tsc wrote it.
 *
 * Paths: the bundle lives two levels below the repository root, as dist/db/ does, so
 * src/db/sql-files.ts finds sql/ from either; src/version.ts reads ../package.json, which the
 * bundle replaces by the version itself.
 */
import { readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const root = new URL("../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as {
  version: string;
  dependencies: Record<string, string>;
};
/** Bundled: commander only (pure JavaScript, loaded by every command). */
const external = Object.keys(pkg.dependencies).filter((d) => d !== "commander");
const outdir = new URL("dist/cli-bundle/", root).pathname;

rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root.pathname,
  entryPoints: { pgsnap: "dist/cli/main.js" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: [...external, "pg-native"],
  // commander is CommonJS and require()s Node's modules: give the ESM bundle a `require`.
  banner: {
    js: 'import { createRequire as pgsnapCreateRequire } from "node:module"; const require = pgsnapCreateRequire(import.meta.url);',
  },
  plugins: [
    {
      name: "tool-version",
      setup(b) {
        b.onLoad({ filter: /[\\/]dist[\\/]version\.js$/ }, () => ({
          contents: `export const toolVersion = ${JSON.stringify(pkg.version)};\n`,
          loader: "js",
        }));
      },
    },
  ],
  logLevel: "warning",
  legalComments: "none",
});
