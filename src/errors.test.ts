import { describe, expect, it } from "vitest";
import { connectionStringSecrets, parseConninfoKeywords, redactSecrets } from "./errors.js";

/** Redacts `text` the way the CLI does: with the secrets extracted from `conninfo`. */
const clean = (text: string, conninfo: string) => redactSecrets(text, connectionStringSecrets(conninfo));

describe("connectionStringSecrets", () => {
  it("finds the password of a URL, raw and percent-decoded", () => {
    const s = connectionStringSecrets("postgres://u:Pa%40ss%2Fw0rd@h:5432/db");
    expect(s).toContain("Pa%40ss%2Fw0rd");
    expect(s).toContain("Pa@ss/w0rd");
  });

  it("finds every reading of a password with an unencoded @", () => {
    const s = connectionStringSecrets("postgresql://u:Sec@ret@pw@h/db");
    expect(s).toContain("Sec@ret@pw");
    expect(s).toContain("Sec@ret");
  });

  it("finds ?password= and &sslpassword= parameters", () => {
    expect(connectionStringSecrets("postgres://u@h/db?sslmode=require&password=Qu%20ery-pw")).toContain("Qu ery-pw");
    expect(connectionStringSecrets("postgres://u@h/db?sslpassword=Key-pass")).toContain("Key-pass");
  });

  it("finds keyword/value passwords: bare, quoted, escaped, spaced around =", () => {
    expect(connectionStringSecrets("host=h password=Kw-S3cret dbname=d")).toContain("Kw-S3cret");
    expect(connectionStringSecrets("host=h password = 'it\\'s a secret' dbname=d")).toContain("it's a secret");
    expect(connectionStringSecrets("password=back\\ slash")).toContain("back slash");
    expect(connectionStringSecrets("sslpassword=Ssl-pw host=h")).toContain("Ssl-pw");
  });

  it("returns nothing for a string without secrets", () => {
    expect(connectionStringSecrets(undefined)).toEqual([]);
    expect(connectionStringSecrets("postgres://u@h/db")).toEqual([]);
    expect(connectionStringSecrets("host=h dbname=d")).toEqual([]);
  });
});

describe("parseConninfoKeywords", () => {
  it("parses libpq keyword/value syntax", () => {
    expect(parseConninfoKeywords(" host = h  port=5 password='a b\\'c' user=x\\ y ")).toEqual([
      ["host", "h"],
      ["port", "5"],
      ["password", "a b'c"],
      ["user", "x y"],
    ]);
  });
});

describe("redactSecrets", () => {
  it("hides a URL password up to the URL's last @, even unknown ones", () => {
    expect(redactSecrets("to postgres://u:Sec@ret@h/db: refused")).toBe("to postgres://u:***@h/db: refused");
  });

  it("hides ?password= and keyword password= values without knowing them", () => {
    expect(redactSecrets("postgres://u@h/db?password=xyz12&sslmode=require: no")).toBe(
      "postgres://u@h/db?password=***&sslmode=require: no",
    );
    expect(redactSecrets("host=h password='a b c' dbname=d")).toBe("host=h password=*** dbname=d");
    expect(redactSecrets("host=h password=abc:def: refused")).toBe("host=h password=***: refused");
  });

  it("hides known secrets also as JSON and percent-encoding print them", () => {
    const secret = 'q"uo\\te/@pw';
    const json = JSON.stringify({ message: `failed for ${secret}` });
    expect(redactSecrets(json, [secret])).not.toContain("uo");
    expect(redactSecrets(`x ${encodeURIComponent(secret)} y`, [secret])).toBe("x *** y");
  });

  it("keeps a JSON document valid", () => {
    const doc = JSON.stringify({ db: "postgres://u:pw12@h/db", email: "a@b.c" });
    expect(() => JSON.parse(redactSecrets(doc)) as unknown).not.toThrow();
  });

  it("redacts every form end to end", () => {
    for (const conninfo of [
      "postgres://u:Pl41n-secret@h/db",
      "postgres://u:Pl41n%40secret@h/db",
      "postgres://u:Pl41n@secret@h/db",
      "postgres://u@h/db?password=Pl41n-secret",
      "host=h user=u password=Pl41n-secret",
      "host=h user=u password='Pl41n secret'",
    ]) {
      const out = clean(`cannot connect to ${conninfo}: boom (${JSON.stringify(conninfo)})`, conninfo);
      expect(out, conninfo).not.toMatch(/Pl41n|secret/);
    }
  });
});
