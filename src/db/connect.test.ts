import { describe, expect, it } from "vitest";
import { ConnectionError, IntegrityError, RefusedError, StorageError, UsageError } from "../errors.js";
import {
  classifyConnectionError,
  connectFailure,
  connectionError,
  connectionStringOf,
  isConnectionFailure,
} from "./connect.js";

const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });

describe("isConnectionFailure", () => {
  it("recognises every way a connection dies", () => {
    for (const e of [
      withCode("ECONNRESET"),
      withCode("EPIPE"),
      withCode("ETIMEDOUT"),
      withCode("ECONNREFUSED"),
      withCode("ENOTFOUND"),
      withCode("57P01", "terminating connection due to administrator command"),
      withCode("57P02"),
      withCode("57P03"),
      withCode("08006"),
      withCode("08P01"),
      new Error("Connection terminated unexpectedly"),
      new Error("Connection terminated"),
      new Error("Client has encountered a connection error and is not queryable"),
      new Error("wrapped", { cause: withCode("ECONNRESET") }),
      new AggregateError([new Error("a"), withCode("EPIPE")]),
      new ConnectionError("DB_IO_TIMEOUT", "no bytes"),
    ]) {
      expect(isConnectionFailure(e), String(e)).toBe(true);
    }
  });

  it("does not take a database refusal or a bug for one", () => {
    for (const e of [withCode("42601"), withCode("23505"), withCode("42501"), new TypeError("x is undefined")]) {
      expect(isConnectionFailure(e), String(e)).toBe(false);
    }
  });
});

describe("classifyConnectionError", () => {
  it("maps a lost connection to exit 10 with a hint, password hidden", () => {
    const err = classifyConnectionError(new Error("Connection terminated unexpectedly"), {
      url: "postgres://u:Hidden-pw@h/db",
      during: "the dump",
    });
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err!.exitCode).toBe(10);
    expect(err!.message).toContain("during the dump");
    expect(err!.message).not.toContain("Hidden-pw");
    expect(err!.hint).toBeTruthy();
  });

  it("leaves storage errors alone, even when a reset socket caused them", () => {
    const reset = withCode("ECONNRESET", "read ECONNRESET");
    expect(classifyConnectionError(new StorageError("S3_FAILED", "upload failed", { cause: reset }))).toBeUndefined();
    // A bare reset while every database client is alive is not the database's.
    expect(classifyConnectionError(reset, { clients: [] })).toBeUndefined();
    expect(classifyConnectionError(new Error("Connection terminated unexpectedly"), { clients: [] })).toBeInstanceOf(
      ConnectionError,
    );
    expect(classifyConnectionError(withCode("57P01"), { clients: [] })).toBeInstanceOf(ConnectionError);
  });

  it("leaves refusals and usage errors alone, and other errors when no client died", () => {
    expect(classifyConnectionError(new RefusedError("X", "no"))).toBeUndefined();
    expect(classifyConnectionError(new UsageError("X", "no"))).toBeUndefined();
    expect(classifyConnectionError(new IntegrityError("X", "bad"), { clients: [] })).toBeUndefined();
    expect(classifyConnectionError(new TypeError("bug"))).toBeUndefined();
  });
});

describe("connectFailure / connectionError", () => {
  it("names the cause in the hint", () => {
    expect(connectFailure(withCode("28P01"), "postgres://u@h/db").hint).toMatch(/password/);
    expect(connectFailure(withCode("ENOTFOUND"), "postgres://u@h/db").hint).toMatch(/does not resolve/);
  });

  it("says a connection was lost, not that it could not connect, for errors mid-run", () => {
    const err = connectionError(new Error("Connection terminated unexpectedly"), undefined);
    expect(err.message).toMatch(/^the database connection was lost during the run/);
    expect(err.code).toBe("CONNECTION_LOST");
  });
});

describe("connectionStringOf", () => {
  it("passes URLs through and turns keyword/value strings into the same URL", () => {
    expect(connectionStringOf("postgres://u:p@h:5/db")).toBe("postgres://u:p@h:5/db");
    expect(connectionStringOf(undefined)).toBeUndefined();
    const url = new URL(connectionStringOf("host=h port=5433 user=u password='a b' dbname=my\\ db sslmode=require")!);
    expect(url.searchParams.get("host")).toBe("h");
    expect(url.searchParams.get("port")).toBe("5433");
    expect(url.searchParams.get("password")).toBe("a b");
    expect(url.searchParams.get("sslmode")).toBe("require");
    expect(decodeURIComponent(url.pathname)).toBe("/my db");
  });

  it("refuses what is not a connection string, a bad port, unknown keywords (exit 2, no password)", () => {
    for (const bad of [
      "not a url",
      "postgres://u:Hidden-pw@h:99999/db",
      "postgres://u:Hidden-pw@h:abc/db",
      "mysql://u:Hidden-pw@h/db",
      "host=h port=70000 password=Hidden-pw",
      "host=h passwrd=Hidden-pw",
    ]) {
      let err: unknown;
      try {
        connectionStringOf(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(UsageError);
      expect((err as UsageError).message).not.toContain("Hidden-pw");
      expect((err as UsageError).hint).toBeTruthy();
    }
  });
});
