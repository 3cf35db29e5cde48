/**
 * docker/compose.yaml as data, for the checks in compose.test.ts and for the container test,
 * which runs the image with the pgsnap service's own environment (hosts and credentials
 * rewritten to the test servers). No Docker Compose here: the file is parsed with `yaml`.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

import { repoRoot } from "../helpers/postgres.js";

export const composePath = join(repoRoot, "docker", "compose.yaml");
export const kubernetesPath = join(repoRoot, "deploy", "kubernetes", "cronjob.yaml");

/** The parts of a Compose service the checks look at (compose-spec names). */
export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string } | string;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target: number; published?: string | number; host_ip?: string })[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  healthcheck?: {
    test?: string | string[];
    interval?: string;
    timeout?: string;
    retries?: number;
    start_period?: string;
    disable?: boolean;
  };
  depends_on?: string[] | Record<string, { condition?: string }>;
  restart?: string;
  stop_grace_period?: string;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Parses docker/compose.yaml (YAML errors are thrown, with their line). */
export function loadCompose(path = composePath): ComposeFile {
  const doc = parse(readFileSync(path, "utf8"), { prettyErrors: true }) as ComposeFile;
  if (doc === null || typeof doc !== "object" || typeof doc.services !== "object") {
    throw new Error(`${path}: no services`);
  }
  return doc;
}

/** A service's environment as a map of strings (list and map forms; `null` = unset). */
export function serviceEnv(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  const raw = service.environment ?? {};
  if (Array.isArray(raw)) {
    for (const entry of raw) {
      const at = entry.indexOf("=");
      if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
    }
  } else {
    for (const [k, v] of Object.entries(raw)) if (v !== null) env[k] = String(v);
  }
  return env;
}

/** depends_on as name → condition (the short list form means service_started). */
export function dependsOn(service: ComposeService): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, "service_started"]));
  return Object.fromEntries(Object.entries(deps).map(([d, v]) => [d, v.condition ?? "service_started"]));
}

/**
 * Every environment variable pgsnap reads, from the source of src/config/ (the only module that
 * reads process.env, STYLE.md): quoted names `PGSNAP_*`, `DATABASE_URL`, `AWS_*`.
 */
export function variablesPgsnapReads(): Set<string> {
  const names = new Set<string>();
  const dir = join(repoRoot, "src", "config");
  for (const file of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    if (!file.endsWith(".ts") || file.endsWith(".test.ts")) continue;
    const text = readFileSync(join(dir, file), "utf8");
    for (const m of text.matchAll(/["'`](PGSNAP_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL|AWS_[A-Z_]*[A-Z])["'`]/g)) {
      names.add(m[1]!);
    }
  }
  return names;
}
