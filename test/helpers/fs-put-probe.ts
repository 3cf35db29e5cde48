/**
 * Run by test/storage/fs-storage.test.ts inside a mount namespace (unshare) where argv[2] is a
 * read-only file system: tries one put and prints the error's name, code and hint as JSON.
 *   node --import tsx test/helpers/fs-put-probe.ts <root>
 */
import { FsStorage } from "../../src/storage/fs/fs-storage.js";

const root = process.argv[2] ?? "";
try {
  await new FsStorage(`${root}/backups`).putBytes("p/s/manifest.json", Buffer.from("{}"));
  console.log(JSON.stringify({ ok: true }));
} catch (err) {
  const e = err as { name?: string; code?: string; exitCode?: number; message?: string; hint?: string };
  console.log(JSON.stringify({ name: e.name, code: e.code, exitCode: e.exitCode, message: e.message, hint: e.hint }));
}
