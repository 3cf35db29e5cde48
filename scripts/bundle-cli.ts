/**
 * Bundles the command line (dist/cli/main.js, the TypeScript build) into dist/cli-bundle/, which
 * bin/pgsnap.js runs. Issue 14, the fixed cost: Node's ESM loader resolves, reads and links each
 * of the ~60 modules a tenant dump imports one by one (and commander's 7 CommonJS files); one
 * module per command path is cheaper (measured in the commit that introduced this script).
 *
 * Inside the bundle: commander (every command loads it) and pg (every command that connects; its
 * 32 CommonJS files cost ~36 ms CPU to load, one bundled copy ~15 ms). No other module of the CLI
 * requires pg (pg-copy-streams does not), so the bundle holds the one instance. What stays out:
 * every other npm dependency, loaded on first use as before (src/storage/s3/minio.ts, ...): some
 * are native addons (zstd-napi), pino starts worker threads from its own files. Dynamic imports
 * stay dynamic (`splitting`): a command still loads only what it uses. dist/ (the library API,
 * src/index.ts) is left as tsc wrote it.
 *
 * Paths: the bundle lives two levels below the repository root, as dist/db/ does, so
 * src/db/sql-files.ts finds sql/ from either; src/version.ts reads ../package.json, which the
 * bundle replaces by the version itself. dist/cli-bundle.meta.json is esbuild's metafile (which
 * modules went into which chunk).
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const root = new URL("../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as {
  version: string;
  dependencies: Record<string, string>;
};
/** Bundled: pure JavaScript that the commands load on every run. */
const bundled = new Set(["commander", "pg"]);
const external = Object.keys(pkg.dependencies).filter((d) => !bundled.has(d));
/**
 * src/db/load-pg.ts requires pg through createRequire (so that it loads inside its `navigator`
 * window), which esbuild does not follow: in the bundle the same function calls a plain
 * `require("pg")`, which esbuild resolves to the bundled copy, loaded at the same moment.
 */
const loadPgLine = "const require = createRequire(import.meta.url);";
const outdir = new URL("dist/cli-bundle/", root).pathname;

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root.pathname,
  entryPoints: { pgsnap: "dist/cli/main.js" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // pg's optional peers: a native binding, and the Cloudflare Workers socket (never used on Node).
  external: [...external, "pg-native", "pg-cloudflare"],
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
    {
      name: "bundled-pg",
      setup(b) {
        b.onLoad({ filter: /[\\/]dist[\\/]db[\\/]load-pg\.js$/ }, (args) => {
          const text = readFileSync(args.path, "utf8");
          if (!text.includes(loadPgLine)) {
            throw new Error(`${args.path} no longer has the line ${loadPgLine}: update scripts/bundle-cli.ts`);
          }
          return { contents: text.replace(loadPgLine, ""), loader: "js" };
        });
      },
    },
  ],
  logLevel: "warning",
  legalComments: "none",
  metafile: true,
});
// Which source modules each chunk holds: test/start-up.test.ts checks what a command loaded.
writeFileSync(new URL("dist/cli-bundle.meta.json", root), JSON.stringify(result.metafile));
