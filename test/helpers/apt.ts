/**
 * Debian packages a test needs and a fresh machine may lack (radosgw, chromium): installed with
 * apt-get when the tests run as root (CI, the project's machines), waiting for other apt runs;
 * otherwise a failure that says what to install. Never a silent skip.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Installs `packages` (`--no-install-recommends`), updating the package lists once if needed. */
export async function installDebianPackages(
  packages: readonly string[],
  notRootHint: string,
  log: (line: string) => void = () => undefined,
): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(`${packages.join(", ")} not installed and this is not root: ${notRootHint}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = (): Promise<unknown> =>
    execFileAsync(
      "apt-get",
      ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq", "--no-install-recommends", ...packages],
      { env, maxBuffer: 64 * 1024 * 1024 },
    );
  log(`apt-get install ${packages.join(" ")}`);
  try {
    await install();
  } catch {
    // Package lists missing or stale (404 on download): update once, then try again.
    await execFileAsync("apt-get", ["-o", "DPkg::Lock::Timeout=600", "update", "-qq"], { env });
    await install();
  }
}
