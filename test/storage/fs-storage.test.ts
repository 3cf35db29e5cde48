import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { StorageError, UsageError } from "../../src/errors.js";
import { FsStorage } from "../../src/storage/fs/fs-storage.js";
import { openStorage } from "../../src/storage/open-storage.js";
import { chunked, describeStorageConformance, failingBody } from "./conformance.js";

/**
 * Tests run as root here, so permissions and a full disk cannot be produced for real: this
 * pass-through mock of node:fs/promises injects such errors on demand, nothing else changes.
 */
const injected = vi.hoisted(() => ({
  writeError: undefined as string | undefined,
  datasyncError: undefined as string | undefined,
  openError: undefined as string | undefined,
}));
vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>();
  const fail = (code: string): NodeJS.ErrnoException =>
    Object.assign(new Error(`${code}: injected by the test`), { code, errno: -1, syscall: "write" });
  const open: typeof actual.open = async (...args) => {
    if (injected.openError !== undefined && args[1] === "wx") throw fail(injected.openError);
    const handle = await actual.open(...args);
    if ((injected.writeError === undefined && injected.datasyncError === undefined) || args[1] !== "wx") return handle;
    const { writeError, datasyncError } = injected;
    return new Proxy(handle, {
      get(target, property) {
        if (property === "write" && writeError !== undefined) return () => Promise.reject(fail(writeError));
        if (property === "datasync" && datasyncError !== undefined) return () => Promise.reject(fail(datasyncError));
        const value: unknown = Reflect.get(target, property);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  return { ...actual, open, default: { ...actual, open } };
});

const execFileAsync = promisify(execFile);
const roots: string[] = [];
async function freshRoot(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "pgsnap-fs-storage-"));
  roots.push(dir);
  return dir;
}

afterAll(async () => {
  for (const dir of roots) await rm(dir, { recursive: true, force: true });
});

describeStorageConformance("FsStorage", async () => ({
  storage: new FsStorage(join(await freshRoot(), "backups")),
}));

describe("FsStorage on disk", () => {
  let root: string;
  let storage: FsStorage;
  beforeAll(async () => {
    root = await freshRoot();
    storage = new FsStorage(root);
  });

  it("writes through a temp file that is gone after the put, with owner-only permissions", async () => {
    await storage.put("p/snap/t.bin", chunked(Buffer.alloc(100_000, 1), [4096]));
    expect(await readdir(join(root, "p", "snap"))).toEqual(["t.bin"]);
    expect((await stat(join(root, "p", "snap", "t.bin"))).mode & 0o777).toBe(0o600);
  });

  it("a failed put removes its temp file", async () => {
    const err = await storage.put("p/failed/t.bin", failingBody(300_000, new Error("no"))).catch((e: unknown) => e);
    expect((err as Error).message).toBe("no");
    expect(await readdir(join(root, "p", "failed"))).toEqual([]);
  });

  it("list ignores temp files; cleanupIncomplete removes only those older than the threshold", async () => {
    await storage.putBytes("q/snap/real.bin", Buffer.from("real"));
    const old = join(root, "q", "snap", ".real2.bin.tmp-0123456789ab");
    const young = join(root, "q", "snap", ".real3.bin.tmp-ba9876543210");
    await writeFile(old, "partial");
    await writeFile(young, "partial");
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(old, hourAgo, hourAgo);
    expect((await storage.list("q/")).map((o) => o.key)).toEqual(["q/snap/real.bin"]);
    expect(await storage.cleanupIncomplete("q/", 60_000)).toBe(1);
    expect((await readdir(join(root, "q", "snap"))).sort()).toEqual([".real3.bin.tmp-ba9876543210", "real.bin"]);
    expect(await storage.cleanupIncomplete("other/", 0)).toBe(0);
    expect(await storage.cleanupIncomplete("q/", 0)).toBe(1);
    expect(await readdir(join(root, "q", "snap"))).toEqual(["real.bin"]);
  });

  it("delete removes directories it leaves empty, never the root", async () => {
    await storage.putBytes("r/snap-1/a.bin", Buffer.from("a"));
    await storage.putBytes("r/snap-2/b.bin", Buffer.from("b"));
    await storage.delete(["r/snap-1/a.bin"]);
    expect(await readdir(join(root, "r"))).toEqual(["snap-2"]);
    await storage.delete(["r/snap-2/b.bin"]);
    expect(await readdir(root)).not.toContain("r");
    expect((await stat(root)).isDirectory()).toBe(true);
  });

  it("a root that is a file gives StorageError exit 11 naming the key", async () => {
    const file = join(await freshRoot(), "not-a-dir");
    await writeFile(file, "x");
    const err = await new FsStorage(file).putBytes("k/v.bin", Buffer.from("v")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).exitCode).toBe(11);
    // a directory cannot be made there: the same class of failure as /proc (see below)
    expect((err as StorageError).code).toBe("STORAGE_NOT_WRITABLE");
    expect((err as StorageError).message).toContain("k/v.bin");
    expect(await new FsStorage(file).list("")).toEqual([]);
  });

  it("a full disk gives STORAGE_DISK_FULL, and the temp file and the body are cleaned up", async () => {
    injected.writeError = "ENOSPC";
    try {
      const body = chunked(Buffer.alloc(200_000, 2), [65_536]);
      const err = await storage.put("s/full.bin", body).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe("STORAGE_DISK_FULL");
      expect((err as StorageError).exitCode).toBe(11);
      expect((err as StorageError).message).toContain("s/full.bin");
      expect((err as StorageError).hint).toContain(root);
      expect(body.destroyed).toBe(true);
    } finally {
      injected.writeError = undefined;
    }
    expect(await readdir(join(root, "s"))).toEqual([]);
  });

  it("a failed background fdatasync (every 8 MiB written) fails the put and leaves no object", async () => {
    injected.datasyncError = "EIO";
    try {
      const err = await storage
        .put("s/unsynced.bin", chunked(Buffer.alloc(20 * 1024 * 1024, 3), [1 << 20]))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).exitCode).toBe(11);
      expect((err as StorageError).message).toContain("s/unsynced.bin");
    } finally {
      injected.datasyncError = undefined;
    }
    expect(await readdir(join(root, "s"))).toEqual([]);
  });

  it("a put far larger than the background sync interval round-trips", async () => {
    const data = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
    await storage.put("s/large.bin", chunked(data, [100_000]));
    const back: Buffer[] = [];
    for await (const chunk of await storage.get("s/large.bin")) back.push(chunk as Buffer);
    expect(Buffer.concat(back).equals(data)).toBe(true);
  });

  it("a permission error gives STORAGE_ACCESS_DENIED", async () => {
    injected.openError = "EACCES";
    try {
      const err = await storage.putBytes("t/denied.bin", Buffer.from("x")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe("STORAGE_ACCESS_DENIED");
      expect((err as StorageError).exitCode).toBe(11);
    } finally {
      injected.openError = undefined;
    }
  });
});

describe("FsStorage where no files can be written (issue 9 item 13)", () => {
  it("under /proc: StorageError STORAGE_NOT_WRITABLE at once, not an endless loop", async () => {
    for (const root of ["/proc/x", "/proc/self/pgsnap", "/proc"]) {
      const err = await new FsStorage(root).putBytes("p/s/manifest.json", Buffer.from("{}")).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, root).toBeInstanceOf(StorageError);
      expect((err as StorageError).code).toBe("STORAGE_NOT_WRITABLE");
      expect((err as StorageError).exitCode).toBe(11);
      expect((err as StorageError).hint).toMatch(/--storage/);
    }
  });

  it("on a read-only file system: STORAGE_READ_ONLY naming EROFS, not ENOENT", async () => {
    const dir = await freshRoot();
    // A read-only tmpfs in a private mount namespace (as root, or as a user with user namespaces).
    const probe = join(import.meta.dirname, "..", "helpers", "fs-put-probe.ts");
    const args = ["--mount", ...(process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"])];
    const script = 'mount -t tmpfs -o ro,size=1m tmpfs "$1" && exec "$2" --import tsx "$3" "$1"';
    const { stdout } = await execFileAsync(
      "unshare",
      [...args, "sh", "-c", script, "sh", dir, process.execPath, probe],
      {
        env: { ...process.env, NODE_OPTIONS: "" },
      },
    );
    const result = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
    expect(result).toMatchObject({ name: "StorageError", code: "STORAGE_READ_ONLY", exitCode: 11 });
    expect(result["message"]).toContain("read-only");
    expect(result["hint"]).toContain("--storage");
  });
});

describe("openStorage for local directories", () => {
  it("a relative path, an absolute path and a file:// URL give FsStorage at the absolute path", async () => {
    const dir = await freshRoot();
    const relative = openStorage("./backups-relative");
    expect(relative).toBeInstanceOf(FsStorage);
    expect(relative.location).toBe(resolve("backups-relative"));
    expect(openStorage(dir).location).toBe(dir);
    const viaUrl = openStorage(pathToFileURL(dir).href);
    expect(viaUrl).toBeInstanceOf(FsStorage);
    expect(viaUrl.location).toBe(dir);
    await viaUrl.putBytes("x/y.json", Buffer.from("{}"));
    expect((await openStorage(dir).getBytes("x/y.json")).toString()).toBe("{}");
  });

  it("an empty location or an unknown scheme is a UsageError", () => {
    for (const url of ["", "  ", "gs://bucket/x", "http://user:hunter22@example.com/x"]) {
      let err: unknown;
      try {
        openStorage(url);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).code).toBe("STORAGE_URL_INVALID");
      expect((err as UsageError).message).not.toContain("hunter22");
    }
  });
});
