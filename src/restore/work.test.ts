import { describe, expect, it } from "vitest";
import type { ColumnInfo, TableInfo } from "../db/catalog.js";
import { planTenants } from "../db/plan.js";
import type { Manifest, ManifestTable } from "../format/manifest.js";
import { planWork } from "./work.js";

const col = (name: string, extra: Partial<ColumnInfo> = {}): ColumnInfo => ({
  name,
  num: 1,
  type: "integer",
  typeOid: 23,
  baseType: "int4",
  baseCategory: "N",
  baseKind: "b",
  notNull: false,
  generated: false,
  identity: "",
  hasDefault: false,
  ...extra,
});

function table(name: string, columns: ColumnInfo[], fks: TableInfo["foreignKeys"] = []): TableInfo {
  return {
    oid: name.length,
    schema: "public",
    name,
    id: `public.${name}`,
    partitioned: false,
    hasInheritors: false,
    rlsEnabled: false,
    rlsForced: false,
    isOwner: true,
    columns,
    keys: [{ name: `${name}_pkey`, primary: true, columns: ["id"] }],
    foreignKeys: fks,
    sequences: [],
    triggers: [],
    rules: [],
  };
}

function manifest(tables: ManifestTable[]): Manifest {
  return { id: "snap", tables, scope: "tenant", tenants: ["1"] } as unknown as Manifest;
}

const snapTable = (name: string, columns: string[], owner: ManifestTable["owner"]): ManifestTable =>
  ({
    table: `public.${name}`,
    schema: "public",
    name,
    scope: owner && "fk" in owner ? "via" : "direct",
    owner,
    columns: columns.map((c) => ({ name: c, type: "integer", encoding: "native" })),
  }) as unknown as ManifestTable;

describe("planWork", () => {
  const orders = table("orders", [col("id", { notNull: true }), col("user_id", { notNull: true })]);

  it("maps a column added since the dump with a default, and reports it", () => {
    const live = table("orders", [...orders.columns, col("status", { notNull: true, hasDefault: true })]);
    const plan = planTenants({ role: {} as never, tables: new Map([[live.id, live]]) }, "user_id");
    const [w] = planWork(
      manifest([snapTable("orders", ["id", "user_id"], { column: "user_id" })]),
      plan,
      "1",
      [],
      "replace",
    );
    expect(w!.notes.join()).toMatch(/status is not in the snapshot: restored rows get its default/);
    expect(w!.columns.map((c) => c.name)).toEqual(["id", "user_id"]);
  });

  it("refuses a NOT NULL column without default that the snapshot lacks", () => {
    const live = table("orders", [...orders.columns, col("must", { notNull: true })]);
    const plan = planTenants({ role: {} as never, tables: new Map([[live.id, live]]) }, "user_id");
    expect(() =>
      planWork(manifest([snapTable("orders", ["id", "user_id"], { column: "user_id" })]), plan, "1", [], "replace"),
    ).toThrow(/must \(integer NOT NULL, no default\)/);
  });

  it("refuses an ownership path that changed since the dump", () => {
    const shops = table("shops", [col("id", { notNull: true }), col("user_id", { notNull: true })]);
    const lines = table(
      "lines",
      [col("id", { notNull: true }), col("shop_id")],
      [
        {
          name: "lines_shop",
          table: "public.lines",
          columns: ["shop_id"],
          refTable: "public.shops",
          refColumns: ["id"],
          onDelete: "a",
          onUpdate: "a",
          deferrable: false,
        },
      ],
    );
    const plan = planTenants(
      {
        role: {} as never,
        tables: new Map([
          [shops.id, shops],
          [lines.id, lines],
        ]),
      },
      "user_id",
    );
    const snap = snapTable("lines", ["id", "shop_id"], {
      fk: "lines_cart",
      columns: ["cart_id"],
      refTable: "public.carts",
      refColumns: ["id"],
    });
    expect(() => planWork(manifest([snap]), plan, "1", [], "replace")).toThrow(
      /public\.lines belonged to tenants via lines_cart → public\.carts at the dump, but the live plan says via lines_shop → public\.shops/,
    );
  });
});
