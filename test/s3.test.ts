/**
 * The command line against S3-compatible storage: the same dump, list, restore, extract, verify
 * and prune flows as on a local directory, plus the faults of S3 (a failing part, a dead or
 * stalled server, resets mid-transfer, wrong credentials, a missing bucket, a killed upload,
 * damaged objects).
 * The server is the run's real S3 server (test/helpers/s3-global-setup.ts: radosgw, or the
 * developer's MinIO through PGSNAP_TEST_S3_ENDPOINT); faults come from a proxy in front of it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { runPgsnap, spawnPgsnap } from "./helpers/cli.js";
import { createDatabase, loadSqlFile, repoRoot, withClient, type TestDatabase } from "./helpers/postgres.js";
import { startS3FaultProxy, type S3FaultProxy } from "./helpers/s3-fault-proxy.js";
import { createBucket, s3Client, s3Upstream } from "./helpers/s3.js";

const serverUrl = inject("pgUrl");

interface S3Target {
  endpoint: string;
  accessKey: string;
  secretKey: string;
}

/** The fault proxy (every fault test goes through it). */
let own: S3FaultProxy;
/** The real server, straight. */
let target: S3Target;
let db: TestDatabase;

beforeAll(async () => {
  const upstream = s3Upstream();
  own = await startS3FaultProxy(upstream);
  target = upstream;
  db = await createDatabase(serverUrl, { prefix: "pgsnap_s3" });
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "schema.sql"));
  await loadSqlFile(db.url, join(repoRoot, "sql", "demo", "data.sql"));
});

afterAll(async () => {
  await db?.drop();
  await own?.stop();
});

function s3env(t: S3Target, extra: Record<string, string> = {}) {
  return {
    PGSNAP_S3_ENDPOINT: t.endpoint,
    PGSNAP_S3_ACCESS_KEY: t.accessKey,
    PGSNAP_S3_SECRET_KEY: t.secretKey,
    PGSNAP_S3_REGION: s3Upstream().region,
    ...extra,
  };
}

async function md5(table: string, where: string): Promise<string> {
  return withClient(db.url, async (c) => {
    const r = await c.query<{ h: string | null }>(
      `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${table} t WHERE ${where}`,
    );
    return r.rows[0]?.h ?? "empty";
  });
}

describe("on S3 storage", () => {
  let storage: string;
  const run = (args: string[], env: Record<string, string> = {}) =>
    runPgsnap([...args, "--db", db.url, "--storage", storage, "--json"], { env: s3env(target, env) });

  beforeAll(async () => {
    storage = `s3://${await createBucket("e2e")}/nightly/prod`;
  });

  it("dumps (full, tenant, all tenants), lists, inspects and verifies", async () => {
    const full = await run(["dump"]);
    expect(full.code, full.stderr).toBe(0);
    expect(full.json.snapshots[0].location).toMatch(
      /^s3:\/\/[^/]+\/nightly\/prod\/pgsnap_s3[^/]*\/\d{8}T\d{6}Z-[0-9a-f]{4}\/$/,
    );
    const tenant = await run(["dump", "--tenant", "2"]);
    expect(tenant.code, tenant.stderr).toBe(0);
    const all = await run(["dump", "--all-tenants", "--jobs", "2"]);
    expect(all.code, all.stderr).toBe(0);
    const list = await run(["list"]);
    expect(list.json.snapshots.map((s: any) => s.id)).toEqual([all, tenant, full].map((r) => r.json.snapshots[0].id));
    const inspect = await run(["inspect", "latest"]);
    expect(inspect.json.id).toBe(all.json.snapshots[0].id);
    expect(inspect.json.tables.find((t: any) => t.table === "public.sales").frames).toHaveLength(5);
    const verify = await run(["verify", "latest", "--restore-test"]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.json.ok).toBe(true);
    expect(verify.json.restoreTest.ok).toBe(true);
  });

  it("restores one tenant from a tenants snapshot (range reads) and from a tenant snapshot", async () => {
    const others = await md5("sales", "user_id <> 4");
    const mine = await md5("sales", "user_id = 4");
    await withClient(db.url, (c) => c.query("DELETE FROM sales WHERE user_id = 4"));
    const r = await run(["restore", "latest", "--tenant", "4", "--confirm"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tables.find((t: any) => t.table === "public.sales").inserted).toBe(120);
    expect(await md5("sales", "user_id = 4")).toBe(mine);
    expect(await md5("sales", "user_id <> 4")).toBe(others);

    const snaps = (await run(["list", "--tenant", "2"])).json.snapshots;
    const tenantSnap = snaps.find((s: any) => s.scope === "tenant");
    await withClient(db.url, (c) => c.query("UPDATE clients SET name = 'changed' WHERE user_id = 2"));
    const r2 = await run(["restore", tenantSnap.id, "--tenant", "2", "--confirm"]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.json.tables.find((t: any) => t.table === "public.clients").updated).toBe(30);
  });

  it("extracts a tenant to S3 and to a local directory", async () => {
    const x = await run(["extract", "latest", "--tenant", "5"]);
    expect(x.code, x.stderr).toBe(0);
    expect(x.json.snapshots[0].scope).toBe("tenant");
    expect(x.json.snapshots[0].rows).toBe(601);
    const v = await run(["verify", x.json.snapshots[0].id]);
    expect(v.code, v.stderr).toBe(0);
    const local = await mkdtemp(join(tmpdir(), "pgsnap-extract-"));
    try {
      const y = await run(["extract", "latest", "--tenant", "3", "--to", local]);
      expect(y.code, y.stderr).toBe(0);
      expect(y.json.snapshots[0].location.startsWith(local)).toBe(true);
      const lv = await runPgsnap(["verify", y.json.snapshots[0].id, "--storage", local, "--json"]);
      expect(lv.code, lv.stderr).toBe(0);
      expect(lv.json.objects.reduce((a: number, o: any) => a + o.rows, 0)).toBe(601);
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  });

  it("prunes by policy, manifest first, keeping the newest verified snapshot", async () => {
    for (let i = 0; i < 2; i++) expect((await run(["dump"])).code).toBe(0);
    const before = (await run(["list"])).json.snapshots;
    const fulls = before.filter((s: any) => s.scope === "full").map((s: any) => s.id);
    expect(fulls.length).toBe(3);
    const dry = await run(["prune", "--keep-last", "1", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect((await run(["list"])).json.snapshots).toHaveLength(before.length);
    const real = await run(["prune", "--keep-last", "1"]);
    expect(real.code, real.stderr).toBe(0);
    expect(real.json.deleted.map((d: any) => d.id).sort()).toEqual(dry.json.deleted.map((d: any) => d.id).sort());
    const after = (await run(["list"])).json.snapshots;
    expect(after.length).toBe(before.length - real.json.deleted.length);
    // One series per scope (and per tenant): only the two older full snapshots go.
    expect(real.json.deleted.map((d: any) => d.id).sort()).toEqual(fulls.slice(1).sort());
    expect(after.map((s: any) => s.id)).toContain(fulls[0]);
  });
});

describe("S3 faults", () => {
  const bucketOf = async () => `s3://${await createBucket("faults")}/p`;
  const run = (storage: string, args: string[], env = s3env(own)) =>
    runPgsnap([...args, "--db", db.url, "--storage", storage, "--json"], { env });

  it("retries a part upload that failed with 500 and succeeds", async () => {
    const storage = await bucketOf();
    own.resetStats();
    own.setFaults([{ op: ["uploadPart", "putObject"], times: 1, action: "error", status: 500 }]);
    try {
      const r = await run(storage, ["dump"]);
      expect(r.code, r.stderr).toBe(0);
      const injected = own.stats().injected;
      expect((injected.uploadPart ?? 0) + (injected.putObject ?? 0)).toBe(1);
      expect((await run(storage, ["verify", "latest"])).code).toBe(0);
    } finally {
      own.clearFaults();
    }
  });

  it("S3 failing mid-upload (5xx beyond retries, resets, a server gone): exit 11 naming the object, no snapshot", async () => {
    // Issue 9 item 8: these were exit 1 ERR_STREAM_PREMATURE_CLOSE.
    const faults = [
      { op: ["uploadPart", "putObject"], action: "error", status: 500 },
      { op: ["uploadPart", "putObject"], action: "error", status: 503 },
      { op: ["uploadPart", "putObject"], action: "cut-request" },
      { op: ["uploadPart", "putObject", "createUpload", "headObject", "listObjects"], action: "reset" },
    ] as const;
    for (const fault of faults) {
      const storage = await bucketOf();
      own.setFaults([{ ...fault, op: [...fault.op] }]);
      let r;
      try {
        r = await run(storage, ["dump"]);
      } finally {
        own.clearFaults();
      }
      const what = `${fault.action} ${"status" in fault ? fault.status : ""}`;
      expect(r.code, `${what}: ${r.stderr}`).toBe(11);
      expect(r.stderr, what).toMatch(/hint:/);
      expect(r.stderr, what).toMatch(/s3:\/\/pgsnap-faults-/);
      expect(r.stderr, what).not.toMatch(/PREMATURE_CLOSE|internal error| {4}at /);
      expect((await run(storage, ["list"])).json.snapshots).toEqual([]);
      expect(await own.incompleteUploads(new URL(storage).hostname)).toEqual([]);
    }
  });

  it("a download cut midway: verify and restore exit 11 (the snapshot is fine), not 12", async () => {
    const storage = await bucketOf();
    const d = await run(storage, ["dump", "--all-tenants"]);
    expect(d.code, d.stderr).toBe(0);
    const id = d.json.snapshots[0].id;
    for (const args of [
      ["verify", id],
      ["restore", id, "--tenant", "3", "--confirm"],
    ]) {
      own.setFaults([{ op: "getObject", pathIncludes: "public.sales", action: "cut-response" }]);
      let r;
      try {
        r = await run(storage, args);
      } finally {
        own.clearFaults();
      }
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(11);
      expect(r.stderr).toMatch(/hint:/);
      expect(r.stderr).not.toMatch(/corrupt|restore from another snapshot/i);
    }
    expect((await run(storage, ["verify", id])).code).toBe(0);
  });

  it("wrong credentials: exit 11 at once, the secret never printed", async () => {
    const storage = await bucketOf();
    const secret = "wrong-secret-Zq81xK";
    const r = await run(storage, ["dump"], s3env({ ...own, secretKey: secret }));
    expect(r.code, r.stderr).toBe(11);
    expect(r.stdout + r.stderr).not.toContain(secret);
    expect(r.stderr).toMatch(/PGSNAP_S3_SECRET_KEY|credentials|access/i);
  });

  it("missing bucket: exit 11 with a hint", async () => {
    const r = await run("s3://no-such-bucket-pgsnap/x", ["dump"]);
    expect(r.code, r.stderr).toBe(11);
    expect(r.stderr).toMatch(/no-such-bucket-pgsnap/);
    expect(r.stderr).toMatch(/hint:/);
  });

  it("a dump killed mid-upload leaves no visible snapshot, and prune removes its leftovers", async () => {
    const storage = await bucketOf();
    await withClient(db.url, (c) =>
      c.query(
        "CREATE TABLE IF NOT EXISTS big AS SELECT g AS id, 1 + g % 5 AS user_id, md5(g::text) || md5((g * 7)::text) AS pad FROM generate_series(1, 400000) g",
      ),
    );
    // 5 MiB parts: the big table becomes a multipart upload whose completion never answers.
    own.resetStats();
    own.setFaults([{ op: "completeUpload", action: "stall" }]);
    const completing = own.nextRequest("completeUpload");
    const child = spawnPgsnap(["dump", "--db", db.url, "--storage", storage], {
      env: s3env(own, { PGSNAP_S3_PART_SIZE: String(5 * 1024 * 1024) }),
    });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    await completing;
    child.kill("SIGKILL");
    await exited;
    own.clearFaults();
    expect(own.stats().requests.completeUpload).toBeGreaterThanOrEqual(1);
    expect((await run(storage, ["list"])).json.snapshots).toEqual([]);
    const bucket = new URL(storage).hostname;
    expect((await own.incompleteUploads(bucket)).length).toBeGreaterThan(0);
    const young = await run(storage, ["prune", "--keep-last", "5"]);
    expect(young.json.incompleteUploads).toBe(0);
    const pruned = await run(storage, ["prune", "--keep-last", "5", "--orphan-age", "0"]);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.json.incompleteUploads).toBeGreaterThan(0);
    expect(await own.incompleteUploads(bucket)).toEqual([]);
    const again = await run(storage, ["dump"]);
    expect(again.code, again.stderr).toBe(0);
    expect((await run(storage, ["list"])).json.snapshots).toHaveLength(1);
    await withClient(db.url, (c) => c.query("DROP TABLE big"));
  });

  it("a damaged object: verify exits 12 naming it, restore exits 12 and changes nothing", async () => {
    const storage = await bucketOf();
    const d = await run(storage, ["dump", "--tenant", "1"]);
    expect(d.code, d.stderr).toBe(0);
    const snap = d.json.snapshots[0];
    const bucket = new URL(storage).hostname;
    const key = `p/${snap.project}/${snap.id}/public.sales.ndjson.zst`;
    const client = s3Client();
    const chunks: Buffer[] = [];
    for await (const c of await client.getObject(bucket, key)) chunks.push(c as Buffer);
    const data = Buffer.concat(chunks);
    const mid = Math.floor(data.length / 2);
    data[mid] = data[mid]! ^ 0xff;
    await client.putObject(bucket, key, data);

    const v = await run(storage, ["verify", snap.id]);
    expect(v.code, v.stderr).toBe(12);
    expect(v.stderr).toContain("public.sales.ndjson.zst");
    const before = await md5("sales", "true");
    await withClient(db.url, (c) => c.query("UPDATE sales SET total = total + 1 WHERE user_id = 1"));
    const changed = await md5("sales", "true");
    const r = await run(storage, ["restore", snap.id, "--tenant", "1", "--confirm"]);
    expect(r.code, r.stderr).toBe(12);
    expect(await md5("sales", "true")).toBe(changed);
    expect(changed).not.toBe(before);
    await withClient(db.url, (c) => c.query("UPDATE sales SET total = total - 1 WHERE user_id = 1"));

    await client.removeObject(bucket, key);
    const gone = await run(storage, ["verify", snap.id]);
    expect(gone.code).toBe(12);
    expect(gone.stderr).toMatch(/public\.sales\.ndjson\.zst: object is missing/);
  });
});
