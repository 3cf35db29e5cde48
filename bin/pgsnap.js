#!/usr/bin/env -S node --max-semi-space-size=2
// --max-semi-space-size=2 (MiB): V8 grows its young generation to 3 × 16 MiB under the dump's
// allocation rate; what pgsnap allocates per chunk dies young, so a small one costs ~25 MiB less
// peak RSS in a 1M-row dump for no measurable time (README, "Performance"). Run as `node bin/pgsnap.js`, the
// flag is not applied.
import "../dist/cli-bundle/pgsnap.js";
