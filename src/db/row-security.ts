import { RefusedError } from "../errors.js";
import type { Catalog, TableInfo } from "./catalog.js";

/** Refuses before anything is written when RLS would filter rows (never a short backup). */
export function checkRowSecurity(catalog: Catalog, tables: readonly TableInfo[]): void {
  if (catalog.role.superuser || catalog.role.bypassrls) return;
  const filtered = tables.filter((t) => t.rlsEnabled && (!t.isOwner || t.rlsForced));
  if (filtered.length > 0) {
    const names = filtered.map((t) => t.id).join(", ");
    throw new RefusedError(
      "RLS_WOULD_FILTER",
      `row-level security is enabled on ${names} and role ${catalog.role.role} does not bypass it`,
      {
        hint: `connect as a role with BYPASSRLS (ALTER ROLE ${catalog.role.role} BYPASSRLS, or Supabase's postgres user) so no row of ${names} is silently left out, or leave ${names} out with --exclude-tables`,
      },
    );
  }
}
