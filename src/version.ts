import { readFileSync } from "node:fs";

/** pgsnap's version, from package.json (recorded in every manifest). */
export const toolVersion: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
