// Preloaded with `node --import` by test/start-up.test.ts: when the process exits, writes every
// CommonJS module it loaded (the require cache, which also holds packages reached by `import`)
// and every internal module of Node (process.moduleLoadList) to the file PGSNAP_TEST_LOADED_FILE;
// the ES modules it loads (the CLI bundle's chunks) go to PGSNAP_TEST_LOADED_FILE.esm, one URL a
// line, written by the hooks of loaded-modules-hooks.mjs.
import { writeFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const file = process.env.PGSNAP_TEST_LOADED_FILE;
if (file) {
  writeFileSync(`${file}.esm`, "");
  register("./loaded-modules-hooks.mjs", import.meta.url, { data: { file: `${file}.esm` } });
  const cache = createRequire(import.meta.url).cache;
  process.on("exit", () => {
    writeFileSync(file, JSON.stringify({ modules: Object.keys(cache), internal: process.moduleLoadList }));
  });
}
