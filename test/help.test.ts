/** Every command's --help ends with examples (issue 12: newcomers copy them). */
import { describe, expect, it } from "vitest";
import { runPgsnap } from "./helpers/cli.js";

describe("--help", () => {
  it("shows examples for every command", async () => {
    const top = await runPgsnap(["--help"]);
    expect(top.code).toBe(0);
    const section = top.stdout.split(/\nCommands:\n/)[1]!.split(/\n\n/)[0]!;
    const names = [...section.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!).filter((n) => n !== "help");
    expect(names).toEqual(expect.arrayContaining(["dump", "restore", "doctor", "report"]));
    const commandsOf = (help: string) =>
      [...(help.split(/\nCommands:\n/)[1]?.split(/\n\n/)[0] ?? "").matchAll(/^ {2}(\S+)/gm)]
        .map((m) => m[1]!)
        .filter((n) => n !== "help");
    for (const name of names) {
      const r = await runPgsnap([name, "--help"]);
      expect(r.code, name).toBe(0);
      expect(r.stdout, `pgsnap ${name} --help`).toMatch(/\nExamples:\n {2}pgsnap /);
      // Groups (config, notify): each subcommand too.
      for (const sub of commandsOf(r.stdout)) {
        const s = await runPgsnap([name, sub, "--help"]);
        expect(s.stdout, `pgsnap ${name} ${sub} --help`).toMatch(/\nExamples:\n {2}pgsnap /);
      }
    }
  });
});
