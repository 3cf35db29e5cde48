import type pg from "pg";

/** Which database a snapshot came from: its name and the cluster's system identifier. */
export interface SourceIdentity {
  database: string;
  /** pg_control_system().system_identifier; null when the role may not read it. */
  systemIdentifier: string | null;
}

/**
 * Reads the identity of the connected database (inside a transaction: a refused read of the
 * control data is rolled back to a savepoint, so it never aborts the caller's transaction).
 * One round trip when the role may read the control data, two when it may not (issue 14).
 */
export async function readSourceIdentity(client: pg.Client): Promise<SourceIdentity> {
  try {
    const [db, , id] = (await client.query(
      [
        "SELECT pg_catalog.current_database() AS db",
        "SAVEPOINT pgsnap_source_identity",
        "SELECT system_identifier::pg_catalog.text AS id FROM pg_catalog.pg_control_system()",
        "RELEASE SAVEPOINT pgsnap_source_identity",
      ].join("; "),
    )) as unknown as pg.QueryResult<{ db?: string; id?: string }>[];
    return { database: db!.rows[0]!.db!, systemIdentifier: id!.rows[0]?.id ?? null };
  } catch (err) {
    if ((err as { code?: string }).code !== "42501") throw err;
    // The message stopped at the refused SELECT: the savepoint exists, nothing after it ran.
    const [, db] = (await client.query(
      "ROLLBACK TO SAVEPOINT pgsnap_source_identity; SELECT pg_catalog.current_database() AS db",
    )) as unknown as pg.QueryResult<{ db: string }>[];
    return { database: db!.rows[0]!.db, systemIdentifier: null };
  }
}
