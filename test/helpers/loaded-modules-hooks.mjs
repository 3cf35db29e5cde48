// Module hooks registered by test/helpers/loaded-modules.mjs: appends the URL of every ES module
// Node loads (bin/pgsnap.js, the bundle's chunks) to a file, one per line. Synchronous, so the
// list is complete when the process exits.
import { appendFileSync } from "node:fs";

let file;

export function initialize(data) {
  file = data.file;
}

export async function load(url, context, nextLoad) {
  if (file && url.startsWith("file:")) appendFileSync(file, url + "\n");
  return nextLoad(url, context);
}
