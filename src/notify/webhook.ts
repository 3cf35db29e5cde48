/**
 * Webhook: POST of the run summary as JSON, with a top-level `text` line (chat webhooks show
 * it). With a `secret`, `X-Pgsnap-Signature: sha256=<hex HMAC-SHA256 of the exact body>` lets
 * the receiver check that the message came from this pgsnap.
 */
import { createHmac } from "node:crypto";
import type { Notifier as NotifierConfig } from "../config/operations.js";
import type { Notifier } from "./notify.js";
import { summaryLine, type JobRun } from "./summary.js";

type WebhookConfig = Extract<NotifierConfig, { type: "webhook" }>;

/** The signature header value for `body`. */
export function signBody(body: string, secret: string): string {
  return "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
}

/** The JSON body of a webhook call. */
export function webhookBody(run: JobRun): string {
  return JSON.stringify({ text: summaryLine(run), ...run });
}

/** POSTs the run to `config.url`; a non-2xx answer or no answer in 15 s is a failure. */
export function webhookNotifier(config: WebhookConfig): Notifier {
  return {
    name: config.name,
    async notify(run, signal) {
      const body = webhookBody(run);
      const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "pgsnap" };
      if (config.secret) headers["x-pgsnap-signature"] = signBody(body, config.secret);
      const where = new URL(config.url).origin;
      let res: Response;
      try {
        res = await fetch(config.url, {
          method: "POST",
          headers,
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new Error(`webhook ${where}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
      }
      await res.body?.cancel().catch(() => {});
      if (!res.ok) throw new Error(`webhook ${where}: HTTP ${res.status}`);
    },
  };
}
