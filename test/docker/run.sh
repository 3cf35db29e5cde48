#!/usr/bin/env bash
# The container test: builds docker/Dockerfile with podman and runs it (vitest project
# `container`, test/docker/container.test.ts). For machines without a Docker engine or an image
# registry (../shared/NOTES.md, "Containers without a Docker engine"); runs as root.
#
#   test/docker/run.sh            # set up, build, test
#   test/docker/run.sh --build    # set up and build only
#
# 1. installs podman, runc and debootstrap when missing (apt);
# 2. writes a containers.conf (runc instead of crun, cgroupfs, no default ulimits);
# 3. builds a stand-in for node:20-bookworm-slim once (debootstrap + this machine's Node) and keeps
#    it in podman's image store, tagged with a hash of its recipe: a later run reuses it, a changed
#    recipe (base.Containerfile, Node version, mirror) builds a new one;
# 4. builds the project image from docker/Dockerfile against that base;
# 5. runs the vitest project `container` with PGSNAP_TEST_IMAGE set.
#
# Environment: PGSNAP_TEST_CACHE (default /var/cache/pgsnap-test) holds containers.conf and the
# base's rootfs build; PGSNAP_TEST_IMAGE (default localhost/pgsnap:test) is the image tag.
set -euo pipefail

cd "$(dirname "$0")/../.."
build_only=false
[ "${1:-}" = "--build" ] && build_only=true

cache=${PGSNAP_TEST_CACHE:-/var/cache/pgsnap-test}
image=${PGSNAP_TEST_IMAGE:-localhost/pgsnap:test}
started=$SECONDS
# Prefixes each line with the seconds since the script started (build logs show where time goes).
stamp() { while IFS= read -r line; do printf '%4ds %s\n' "$((SECONDS - started))" "$line"; done; }
step() { printf '\n-- container: %s (%ds)\n' "$*" "$((SECONDS - started))"; }

if [ "$(id -u)" != 0 ]; then
  echo "test/docker/run.sh runs podman as root (rootless podman needs subuid setup); run it as root" >&2
  exit 1
fi

step "podman, runc, debootstrap"
missing=()
for tool in podman:podman runc:runc debootstrap:debootstrap; do
  command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi
podman --version

mkdir -p "$cache"
# crun cannot set rlimits here and cgroups are hybrid: runc with cgroupfs works.
cat >"$cache/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$cache/containers.conf

# --- the stand-in base --------------------------------------------------------------------------
# The Debian mirror this machine's apt uses (deb822 sources first, then sources.list).
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb[[:space:]]\+\(http[^[:space:]]*\).*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
node_bin=$(readlink -f "$(command -v node)")
node_prefix=$(dirname "$(dirname "$node_bin")")
npm_dir=$node_prefix/lib/node_modules/npm
include_dir=$node_prefix/include/node
for p in "$npm_dir/bin/npm-cli.js" "$include_dir/node_api.h"; do
  [ -e "$p" ] || { echo "cannot build the base: $p is missing" >&2; exit 1; }
done

rootfs_recipe="debootstrap --variant=minbase --include=ca-certificates bookworm $mirror"
rootfs_tag=localhost/pgsnap-test-rootfs:$(printf '%s' "$rootfs_recipe" | sha256sum | cut -c1-12)
base_tag=localhost/pgsnap-test-base:$(
  {
    printf '%s\n' "$rootfs_tag" "$(node --version)" "$(npm --version)"
    cat test/docker/base.Containerfile
  } | sha256sum | cut -c1-12
)

step "base image $base_tag"
if podman image exists "$base_tag"; then
  echo "cached"
else
  if ! podman image exists "$rootfs_tag"; then
    echo "$rootfs_recipe"
    work=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    debootstrap --variant=minbase --include=ca-certificates bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
      tail -30 "$work/debootstrap.log" >&2
      exit 1
    }
    rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
    tar -C "$work/root" -c . | podman import -q - "$rootfs_tag" >/dev/null
    rm -rf "$work"
    trap - EXIT
  fi
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp "$node_bin" "$ctx/node"
  cp -a "$npm_dir" "$ctx/npm"
  cp -a "$include_dir" "$ctx/include"
  podman build -q --network none --build-arg "ROOTFS=$rootfs_tag" -f test/docker/base.Containerfile \
    -t "$base_tag" "$ctx" >/dev/null
  rm -rf "$ctx"
  trap - EXIT
  echo "built"
fi

# --- the project image --------------------------------------------------------------------------
step "image $image from docker/Dockerfile"
# --format docker keeps HEALTHCHECK (the OCI image format has no such field). The machine's CA
# store is mounted for npm (TLS-intercepting proxies); the host's npm cache saves the downloads
# that `npm ci` on the host has already made.
npm_cache=$(npm config get cache)
mkdir -p "$npm_cache"
# zstd-napi's prebuilt addon is downloaded from GitHub, which this machine cannot reach, so the
# image's `npm rebuild zstd-napi` would compile it (over 3 min on 2 busy cores). Put the addon
# that `npm ci` built here (same Debian, N-API: ABI-stable) where prebuild-install keeps
# downloaded prebuilds, in the npm cache the build mounts; the image then takes the same path as
# a build with internet access. Without it the Dockerfile compiles (its toolchain fallback).
node - "$npm_cache" <<'EOF'
const { createHash } = require("node:crypto");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const pkgDir = path.resolve("node_modules/zstd-napi");
const addon = path.join(pkgDir, "build/Release/binding.node");
if (!fs.existsSync(addon)) {
  console.log("zstd-napi: no local addon, the image build compiles it");
  process.exit(0);
}
const { version } = require(path.join(pkgDir, "package.json"));
const name = `zstd-napi-v${version}-napi-v8-${process.platform}-${process.arch}.tar.gz`;
const url = `https://github.com/drakedevel/zstd-napi/releases/download/v${version}/${name}`;
// prebuild-install/util.js cachedPrebuild(): first 6 hex digits of sha512(url) + file name.
const digest = createHash("sha512").update(url).digest("hex").slice(0, 6);
const dir = path.join(process.argv[2], "_prebuilds");
fs.mkdirSync(dir, { recursive: true });
const target = path.join(dir, `${digest}-${name.replace(/[^a-zA-Z0-9.]+/g, "-")}`);
execFileSync("tar", ["-czf", target, "-C", pkgDir, "build/Release/binding.node"]);
console.log(`zstd-napi: prebuild from this machine at ${target}`);
EOF
podman build --format docker --network host --jobs 2 \
  -v /etc/ssl/certs:/etc/ssl/certs:ro \
  -v "$npm_cache:/root/.npm" \
  --build-arg "BASE=$base_tag" \
  -f docker/Dockerfile -t "$image" . 2>&1 | stamp >"$cache/image-build.log" || {
  tail -40 "$cache/image-build.log" >&2
  echo "image build failed (log: $cache/image-build.log)" >&2
  exit 1
}
# (No `podman image prune`: the untagged images of the build stages are the layer cache.)
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "image $image: $((size / 1000000)) MB"

if $build_only; then
  step "built"
  exit 0
fi

step "vitest project container"
export PGSNAP_TEST_IMAGE=$image
npx vitest run --project container
step "done"
