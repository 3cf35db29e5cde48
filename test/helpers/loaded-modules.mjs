// Preloaded with `node --import` by test/start-up.test.ts: when the process exits, writes every
// CommonJS module it loaded (the require cache, which also holds packages reached by `import`)
// and every internal module of Node (process.moduleLoadList) to the file PGSNAP_TEST_LOADED_FILE.
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const file = process.env.PGSNAP_TEST_LOADED_FILE;
if (file) {
  const cache = createRequire(import.meta.url).cache;
  process.on("exit", () => {
    writeFileSync(file, JSON.stringify({ modules: Object.keys(cache), internal: process.moduleLoadList }));
  });
}
