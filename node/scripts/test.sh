#!/bin/sh
# Runs vidmesh-node's tests. They run real ffmpeg and ffprobe: installed here when missing on
# Debian/Ubuntu (as root or with sudo), otherwise the script stops and says how to get them.
set -eu
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update && apt-get install -y --no-install-recommends ffmpeg
    elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
        sudo apt-get update && sudo apt-get install -y --no-install-recommends ffmpeg
    else
        echo "error: the node tests run real ffmpeg and ffprobe, which are not on PATH." >&2
        echo "Install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; Fedora: dnf install ffmpeg;" >&2
        echo "macOS: brew install ffmpeg) and run this script again." >&2
        exit 1
    fi
fi
cd "$(dirname "$0")/../.."
exec cargo test -p vidmesh-node "$@"
