#!/usr/bin/env bash
# Build the vidmesh images without any container registry.
#
# The public path (docker/Dockerfile) pulls rust:1-bookworm and debian:bookworm-slim. Where no
# registry is reachable this script produces the same image tags from a Debian mirror alone:
#   1. debootstrap a bookworm rootfs that already contains ffmpeg (cached as a tarball),
#   2. `docker import` it under the tag docker/Dockerfile's runtime stage uses,
#   3. build the binaries on the host with cargo (instead of the rust:1-bookworm builder stage),
#   4. build the final image from docker/Dockerfile.prebuilt, which only copies them in.
# Every step is skipped when its result already exists, so a second run takes seconds.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

# What the images are called. BASE_TAG must match the runtime stage of docker/Dockerfile and
# VIDMESH_IMAGE the `image:` of docker-compose.yml.
BASE_TAG="${VIDMESH_BASE_TAG:-debian:bookworm-slim}"
VIDMESH_IMAGE="${VIDMESH_IMAGE:-vidmesh:latest}"
SUITE=bookworm
# Packages the runtime needs; keep in sync with the apt-get line in docker/Dockerfile.
PACKAGES="ffmpeg,ca-certificates,curl"
BINS="${VIDMESH_BINS:-vidmesh-node sim vidmesh-observer vidmesh-analysis}"
PROFILE=release
CACHE_DIR="${VIDMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vidmesh}"
MIRROR="${VIDMESH_DEBIAN_MIRROR:-}"
BASE_ONLY=0
REBUILD_BASE=0
SKIP_CARGO=0

usage() {
    cat <<EOF
usage: docker/build-offline.sh [options]

Builds $VIDMESH_IMAGE (and the base $BASE_TAG) with no container registry.

options:
  --base-only      only make and import the Debian+ffmpeg base image
  --rebuild-base   debootstrap again even if the cached rootfs tarball exists
  --skip-cargo     do not run cargo; use the binaries already in target/<profile>
  --profile NAME   cargo profile to build and copy (default release; `dev` for quick tests)
  --mirror URL     Debian mirror (default: first bookworm mirror in /etc/apt/sources.list*)
  -h, --help       this text

environment:
  VIDMESH_IMAGE=$VIDMESH_IMAGE   final image tag (docker-compose.yml uses the same default)
  VIDMESH_BASE_TAG=$BASE_TAG     tag the rootfs is imported under
  VIDMESH_CACHE=$CACHE_DIR       where the rootfs tarball is kept
  VIDMESH_BINS="$BINS"           binaries copied into the image
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --base-only) BASE_ONLY=1 ;;
        --rebuild-base) REBUILD_BASE=1 ;;
        --skip-cargo) SKIP_CARGO=1 ;;
        --profile) shift; PROFILE="${1:?--profile needs a name}" ;;
        --mirror) shift; MIRROR="${1:?--mirror needs a URL}" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build-offline: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\nbuild-offline: error: %s\n' "$*" >&2; exit 1; }
run() { printf '    $ %s\n' "$*"; "$@"; }

# ---------------------------------------------------------------------------------------------
step "checking prerequisites"
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot talk to the docker daemon (is it running, and may this user use it?)"
info "docker daemon: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)"

ARCH="$(dpkg --print-architecture 2>/dev/null || true)"
case "${ARCH:-$(uname -m)}" in
    amd64|x86_64) ARCH=amd64 ;;
    arm64|aarch64) ARCH=arm64 ;;
    *) die "unsupported architecture '${ARCH:-$(uname -m)}'" ;;
esac

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "debootstrap needs root; run as root or install sudo"
    SUDO=(sudo)
fi

# Label on every image this script imports, so we never overwrite a genuine upstream image.
BASE_LABEL="org.vidmesh.base=debootstrap-$SUITE"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_is_ours() {
    [ "$(docker image inspect --format '{{index .Config.Labels "org.vidmesh.base"}}' "$1" 2>/dev/null)" = "debootstrap-$SUITE" ]
}

find_mirror() {
    # deb822 (.sources) and one-line (.list) formats; the first plain archive serving bookworm wins.
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v suite="$SUITE" '
            /^deb[ \t]/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { if ($(i+1) == suite) print $i; break } }
            /^URIs:/     { uri = $2 }
            /^Suites:/   { for (i = 2; i <= NF; i++) if ($i == suite && uri != "") print uri }
            /^$/         { uri = "" }
        ' "$f"
    done | grep -v -- '-security' | head -n1
}

# ---------------------------------------------------------------------------------------------
# The cache key names the tarball's ingredients (suite, architecture, package list), so a change of
# package list or suite makes a fresh one instead of reusing a stale cache.
BASE_KEY="$SUITE-$ARCH-$(printf '%s' "$PACKAGES" | sha256sum | cut -c1-12)"
TARBALL="$CACHE_DIR/rootfs-$BASE_KEY.tar"
OWN_BASE_TAG="vidmesh/base:$BASE_KEY"

make_rootfs_tarball() {
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install -y debootstrap)"
    if [ -z "$MIRROR" ]; then
        MIRROR="$(find_mirror)"
        [ -n "$MIRROR" ] || die "no Debian $SUITE mirror found in /etc/apt/sources.list*; pass --mirror URL"
    fi
    info "mirror: $MIRROR"
    mkdir -p "$CACHE_DIR"
    local root
    root="$(mktemp -d "$CACHE_DIR/rootfs-tmp.XXXXXX")"
    # debootstrap mounts proc/sys inside the target; unmount before deleting anything there.
    cleanup_root() {
        local m
        for m in $(awk -v r="$root" '$2 ~ "^"r"/" {print $2}' /proc/mounts | sort -r); do
            "${SUDO[@]}" umount -l "$m" 2>/dev/null || true
        done
        "${SUDO[@]}" rm -rf --one-file-system "$root"
    }
    trap cleanup_root EXIT
    info "debootstrap into $root (this takes several minutes)"
    local started=$SECONDS
    if ! run "${SUDO[@]}" debootstrap --variant=minbase --arch="$ARCH" \
        --include="$PACKAGES" "$SUITE" "$root" "$MIRROR"; then
        [ -f "$root/debootstrap/debootstrap.log" ] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (log tail above); check that $MIRROR is reachable"
    fi
    info "debootstrap took $((SECONDS - started)) s"
    "${SUDO[@]}" chroot "$root" ffmpeg -hide_banner -version >/dev/null \
        || die "ffmpeg does not run inside the new rootfs"
    # Trim what a container never needs; the apt lists alone are ~70 MB.
    "${SUDO[@]}" chroot "$root" apt-get clean
    "${SUDO[@]}" rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/var/log/*.log "$root"/debootstrap
    # A container gets its resolv.conf and hostname from docker.
    "${SUDO[@]}" sh -c ": > '$root/etc/resolv.conf'; : > '$root/etc/hostname'"
    info "writing $TARBALL"
    "${SUDO[@]}" tar --numeric-owner --xattrs -C "$root" -cf "$TARBALL.part" .
    mv "$TARBALL.part" "$TARBALL"
    cleanup_root
    trap - EXIT
}

step "base image $BASE_TAG (Debian $SUITE + ffmpeg, via debootstrap)"
if [ "$REBUILD_BASE" -eq 1 ]; then
    rm -f "$TARBALL"
    docker image rm "$OWN_BASE_TAG" >/dev/null 2>&1 || true
fi
if image_exists "$OWN_BASE_TAG"; then
    info "$OWN_BASE_TAG already imported; skipping debootstrap"
else
    if [ -f "$TARBALL" ]; then
        info "using cached rootfs $TARBALL ($(du -h "$TARBALL" | cut -f1))"
    else
        make_rootfs_tarball
    fi
    info "importing $TARBALL as $OWN_BASE_TAG"
    docker import \
        --change "LABEL $BASE_LABEL" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["bash"]' \
        - "$OWN_BASE_TAG" < "$TARBALL" >/dev/null
fi
# docker/Dockerfile's runtime stage starts FROM $BASE_TAG; give it our rootfs under that name,
# unless a genuine upstream image already holds the tag (then leave it alone and build on ours).
PREBUILT_BASE="$BASE_TAG"
if image_exists "$BASE_TAG" && ! image_is_ours "$BASE_TAG"; then
    info "$BASE_TAG exists and is not ours (an upstream image?); leaving it and building on $OWN_BASE_TAG"
    PREBUILT_BASE="$OWN_BASE_TAG"
else
    run docker tag "$OWN_BASE_TAG" "$BASE_TAG"
fi
docker run --rm "$PREBUILT_BASE" ffmpeg -hide_banner -version | head -n1 | sed 's/^/    /' \
    || die "ffmpeg does not run in $PREBUILT_BASE"

if [ "$BASE_ONLY" -eq 1 ]; then
    step "done (--base-only): $PREBUILT_BASE"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
step "binaries: $BINS"
cd "$REPO_ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
if [ "$SKIP_CARGO" -eq 0 ]; then
    command -v cargo >/dev/null || die "cargo is not installed; install Rust or use --skip-cargo with prebuilt binaries"
    bin_args=()
    for b in $BINS; do bin_args+=(--bin "$b"); done
    started=$SECONDS
    # --locked when a lockfile exists, as in docker/Dockerfile.
    locked=()
    [ -f Cargo.lock ] && locked=(--locked)
    run cargo build --profile "$PROFILE" "${locked[@]}" "${bin_args[@]}" \
        || die "cargo build failed (see above)"
    info "cargo took $((SECONDS - started)) s"
fi
# cargo puts the dev profile in target/debug.
OUT_DIR="$TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
CONTEXT="$TARGET_DIR/docker-context"
rm -rf "$CONTEXT"
mkdir -p "$CONTEXT/bin"
for b in $BINS; do
    [ -x "$OUT_DIR/$b" ] || die "missing $OUT_DIR/$b (build it, or drop it from VIDMESH_BINS)"
    cp "$OUT_DIR/$b" "$CONTEXT/bin/"
done
# The release profile keeps debug info for profiling; the image does not need it (~170 MB).
if command -v strip >/dev/null; then
    strip --strip-debug "$CONTEXT"/bin/*
    info "stripped debug info: $(du -sh "$CONTEXT/bin" | cut -f1) of binaries"
fi
cp "$SCRIPT_DIR/Dockerfile.prebuilt" "$CONTEXT/Dockerfile"
[ -d "$REPO_ROOT/scenarios" ] && cp -r "$REPO_ROOT/scenarios" "$CONTEXT/scenarios" || mkdir -p "$CONTEXT/scenarios"

# ---------------------------------------------------------------------------------------------
step "image $VIDMESH_IMAGE (docker/Dockerfile.prebuilt on $PREBUILT_BASE)"
started=$SECONDS
# The small staging context keeps target/ (gigabytes) away from the daemon.
run docker build --pull=false --build-arg "BASE_IMAGE=$PREBUILT_BASE" -t "$VIDMESH_IMAGE" "$CONTEXT" \
    || die "docker build failed (see above)"
info "docker build took $((SECONDS - started)) s"

step "smoke test"
docker run --rm "$VIDMESH_IMAGE" ffmpeg -hide_banner -version | head -n1 | sed 's/^/    /' \
    || die "ffmpeg does not run in $VIDMESH_IMAGE"
for b in $BINS; do
    if ! out="$(docker run --rm "$VIDMESH_IMAGE" "$b" --help 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "'$b --help' failed inside $VIDMESH_IMAGE (output above; a glibc newer than $SUITE's on the build host?)"
    fi
    info "$b --help: ok"
done

step "done"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' \
    | grep -E "^(${VIDMESH_IMAGE%%:*}|${BASE_TAG%%:*}|vidmesh/base):" | sed 's/^/    /' || true
info "start the stack with: docker-compose up -d   (no --build: that would try to pull rust:1-bookworm)"
