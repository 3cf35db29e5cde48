/** Writes schema/pgsnap.config.schema.json from the config's one definition (src/config/schema.ts). */
import { writeFileSync } from "node:fs";
import { format, resolveConfig } from "prettier";
import { configJsonSchema } from "../src/config/schema.js";

const target = new URL("../schema/pgsnap.config.schema.json", import.meta.url);
const options = (await resolveConfig(target.pathname)) ?? {};
writeFileSync(target, await format(JSON.stringify(configJsonSchema()), { ...options, parser: "json" }));
process.stdout.write(`wrote ${target.pathname}\n`);
