/** `pgsnap notify test [<name>]`: a test message through each notifier, or the named one. */
import type { Command } from "commander";
import type { ContextFor } from "../context.js";
import { operationsFor } from "../operations.js";
import { formatTable } from "../output.js";

/** Adds the `notify` group to the program. */
export function registerNotify(program: Command, contextFor: ContextFor): void {
  const notify = program
    .command("notify")
    .description("notifications")
    .addHelpText("after", "\nExamples:\n  pgsnap notify test\n  pgsnap notify test ops --config pgsnap.config.json");
  notify
    .command("test")
    .description("send a test message through each notifier (or the named one); exit 11 if one cannot be delivered")
    .argument("[name]", "notifier name (a key of notify in the config)")
    .addHelpText("after", "\nExamples:\n  pgsnap notify test\n  pgsnap notify test ops")
    .action(async (name: string | undefined, _opts: unknown, cmd: Command) => {
      const { ctx, ops } = await operationsFor(cmd, contextFor);
      const { NotifyError, testNotifiers } = await import("../../notify/notify.js");
      const results = await testNotifiers(ops.notifiers, name, {
        attempts: 1,
        timeoutMs: 30_000,
        log: (level, event, fields) => ctx.out.debug(`pgsnap: ${event} ${JSON.stringify(fields)}`),
      });
      const failed = results.filter((r) => !r.delivered);
      if (failed.length > 0 && !ctx.out.options.json) {
        throw new NotifyError(
          `could not deliver to ${failed.map((f) => `${f.notifier} (${f.error ?? "failed"})`).join(", ")}`,
          "check the SMTP URL or webhook URL and that the server accepts the login (pgsnap config check shows them)",
        );
      }
      ctx.out.result({ notifiers: results }, () =>
        formatTable(
          ["NOTIFIER", "TYPE", "DELIVERED", "ERROR"],
          results.map((r) => [r.notifier, r.type, r.delivered ? "yes" : "no", r.error ?? ""]),
        ),
      );
      if (failed.length > 0) ctx.setExitCode(11);
    });
}
