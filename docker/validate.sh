#!/usr/bin/env bash
# Live validation with docker-compose, one command: build the images (without a registry,
# docker/build-offline.sh) and run `sim validate`, which runs the scenario's workload and faults
# on the compose stack per strategy, `sim run` of the same scenario on the same clips, and the
# comparison. See docker/README.md.
#
#   docker/validate.sh                  # full: docker/validation.toml, every strategy
#   docker/validate.sh --short          # CI: two strategies, 150 s each, one node killed and restarted
#   docker/validate.sh --no-build ...   # use the existing image (e.g. after `docker-compose build`)
#
# Every other argument goes to `sim validate` (`sim validate --help` lists them).
# Exit status: 0 sim and live agree, 1 they disagree, 2 the validation could not run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

BUILD=1
ARGS=()
for a in "$@"; do
    case "$a" in
        --no-build) BUILD=0 ;;
        -h|--help)
            sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
            exit 0 ;;
        *) ARGS+=("$a") ;;
    esac
done

if [ "$BUILD" -eq 1 ]; then
    printf '==> images (docker/build-offline.sh)\n'
    mkdir -p target
    started=$SECONDS
    if ! docker/build-offline.sh > target/validate-build.log 2>&1; then
        tail -n 30 target/validate-build.log >&2
        echo "validate: image build failed (log: target/validate-build.log)" >&2
        exit 2
    fi
    printf '    built in %d s (log: target/validate-build.log)\n' $((SECONDS - started))
fi
cargo build --release --quiet --bin sim || exit 2
exec target/release/sim validate "${ARGS[@]}"
