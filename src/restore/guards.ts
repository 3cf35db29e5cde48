/**
 * The checks a restore passes before it writes (DESIGN.md, "Restore of one tenant"): the right
 * database, rules and triggers that would fire, every staged row the tenant's, and no staged key
 * on another tenant's row. Each throws a RefusedError (exit 3); nothing has been written yet.
 */
import type pg from "pg";
import { RefusedError } from "../errors.js";
import type { SourceIdentity } from "../db/source-identity.js";
import { quoteIdent } from "../db/quote.js";
import type { Manifest } from "../format/manifest.js";
import { liveRel, rowText, type Work } from "./work.js";

/** A condition over alias `alias` true when the row belongs to what is being restored. */
export type Owned = (tableId: string, alias: string) => string;

/** Refuses a snapshot restored into another database than it came from, unless stated on purpose. */
export function checkSourceDatabase(manifest: Manifest, live: SourceIdentity, toOtherDatabase: boolean): void {
  if (toOtherDatabase) return;
  const source = manifest.source ?? { database: manifest.server.database, systemIdentifier: null };
  const differs =
    source.database !== live.database ||
    (source.systemIdentifier !== null &&
      live.systemIdentifier !== null &&
      source.systemIdentifier !== live.systemIdentifier);
  if (!differs) return;
  const where = (s: { database: string; systemIdentifier: string | null }) =>
    `database ${s.database}${s.systemIdentifier ? ` of cluster ${s.systemIdentifier}` : ""}`;
  throw new RefusedError(
    "OTHER_DATABASE",
    `snapshot ${manifest.id} was taken from ${where(source)}, but this is ${where(live)}`,
    {
      hint: "check --db / DATABASE_URL; to restore into another database on purpose (a staging copy), add --to-other-database",
    },
  );
}

/**
 * Rewrite rules (CREATE RULE) would turn the restore's writes into other statements (an INSTEAD
 * soft delete, an ALSO insert into a shared table). The table's owner disables them inside the
 * transaction like triggers; any other role is refused, naming them.
 */
export function checkRules(works: readonly Work[], superuser: boolean): void {
  const blocked = works.filter((w) => w.live.rules.length > 0 && !w.live.isOwner && !superuser);
  if (blocked.length === 0) return;
  throw new RefusedError(
    "RULES_WOULD_FIRE",
    `tables ${blocked.map((w) => w.live.id).join(", ")} have rewrite rules (${blocked.flatMap((w) => w.live.rules.map((r) => r.name)).join(", ")}) that would rewrite the restore's writes, and this role may not disable them`,
    { hint: "restore as the tables' owner (rules are disabled inside the restore's transaction); nothing was changed" },
  );
}

/** Refuses user triggers the role may not disable, unless the user said firing them is safe. */
export function checkTriggers(works: readonly Work[], mode: "disable" | "fire", superuser: boolean): void {
  if (mode === "fire") return;
  const notOwned = works.filter((w) => w.live.triggers.length > 0 && !w.live.isOwner && !superuser);
  if (notOwned.length === 0) return;
  throw new RefusedError(
    "TRIGGERS_WOULD_FIRE",
    `tables ${notOwned.map((w) => w.live.id).join(", ")} have user triggers (${notOwned.flatMap((w) => w.live.triggers.map((t) => t.name)).join(", ")}) that this role may not disable`,
    { hint: "restore as the tables' owner, or pass --triggers fire if firing them again is safe" },
  );
}

/**
 * Every staged row must belong to the tenant (parents are checked before children, against the
 * staged parents). From a full snapshot, rows of other tenants are dropped from staging instead.
 */
export async function checkStagedOwnership(
  client: pg.Client,
  manifest: Manifest,
  works: readonly Work[],
  depthOf: (id: string) => number,
  ownedStaged: Owned,
  tenant: string,
): Promise<void> {
  for (const w of [...works].sort((a, b) => depthOf(a.live.id) - depthOf(b.live.id))) {
    const notOwned = `NOT (${ownedStaged(w.live.id, "s")})`;
    if (manifest.scope === "full") {
      const dropped = await client.query(`DELETE FROM ${w.stage} s WHERE ${notOwned}`);
      w.stagedRows -= dropped.rowCount ?? 0;
      continue;
    }
    const bad = await client.query<{ n: string; row: string | null }>(
      `SELECT count(*) AS n, min(${rowText("s", w.staged)}) AS row FROM ${w.stage} s WHERE ${notOwned}`,
    );
    const n = Number(bad.rows[0]!.n);
    if (n > 0) {
      throw new RefusedError(
        "FOREIGN_TENANT_ROW",
        `snapshot ${manifest.id}, table ${w.live.id}: a row does not belong to tenant ${tenant} (or its parent row is missing): ${truncate(bad.rows[0]!.row)}${n > 1 ? ` and ${n - 1} more` : ""}`,
        { hint: "the snapshot was altered or mislabelled; nothing was changed. Restore from another snapshot" },
      );
    }
  }
}

/** Refuses when a staged key (primary or unique) equals the key of a live row that is not being restored. */
export async function checkCollisions(
  client: pg.Client,
  w: Work,
  owned: Owned,
  tenant: string | undefined,
): Promise<void> {
  const staged = new Set(w.staged.map((c) => c.name));
  for (const key of w.live.keys) {
    if (!key.columns.every((c) => staged.has(c))) continue;
    const on = key.columns.map((c) => `t.${quoteIdent(c)} = s.${quoteIdent(c)}`).join(" AND ");
    // An aggregate, not LIMIT 1: with LIMIT the planner trusts stale statistics and may pick a
    // nested loop over both tables.
    const hit = await client.query<{ n: string; k: string | null }>(
      `SELECT count(*) AS n, min(${rowText(
        "s",
        w.staged.filter((c) => key.columns.includes(c.name)),
      )}) AS k FROM ${w.stage} s JOIN ${liveRel(w.live)} t ON ${on} WHERE NOT (${owned(w.live.id, "t")})`,
    );
    const n = Number(hit.rows[0]!.n);
    if (n > 0) {
      throw new RefusedError(
        "KEY_COLLISION",
        `table ${w.live.id}: key ${key.name} (${key.columns.join(", ")}) = ${String(hit.rows[0]!.k)} of ${n} snapshot row(s) belongs to a row ${tenant === undefined ? "outside the restore" : `of another tenant than ${tenant}`}`,
        {
          hint: "nothing was changed; the other tenant's row was never touched. Resolve the conflicting row by hand, then retry",
        },
      );
    }
  }
}

export function truncate(s: unknown, n = 200): string {
  const text = String(s);
  return text.length > n ? text.slice(0, n) + "…" : text;
}
