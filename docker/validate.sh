#!/usr/bin/env bash
# Live validation with docker-compose: run a scenario's workload on the five containers, once per
# strategy, apply its faults with docker (crash = SIGKILL, restart = start, pause = freeze),
# collect the client's per-request CSV, tear down, and run `sim run` of the same scenario next to
# it for comparison. See docker/README.md.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

SCENARIO=""
OUT=""
SHORT=0
BUILD=1
KEEP=0
TOLERANCE=0.15
PROJECT="${VIDMESH_VALIDATE_PROJECT:-vidmesh-validate}"
export VIDMESH_IMAGE="${VIDMESH_IMAGE:-vidmesh:latest}"

usage() {
    cat <<EOF
usage: docker/validate.sh [options] [SCENARIO]

Runs SCENARIO (default docker/validation.toml) live on docker-compose, one strategy after the
other on a fresh cluster, then \`sim run\` of the same file, and writes both under OUT.

options:
  --short        CI mode: the first two strategies, each for at most 150 s (faults later than
                 that are dropped, in the sim too); < 15 min in all once the image is built
  --out DIR      output directory (default results/live/<scenario name>)
  --no-build     use the existing $VIDMESH_IMAGE instead of running docker/build-offline.sh
  --keep         leave the last strategy's containers running (for a look at the dashboard)
  --tolerance X  relative error accepted by the comparison (default 0.15 = 15 %)
  -h, --help     this text

OUT/live/     requests.csv (same schema as sim run), events.csv (faults as applied), node logs
OUT/sim/      sim run output for the same scenario and strategies
OUT/compare/  vidmesh-analysis compare: per strategy and metric sim vs live, ranking, chart
Exits non-zero when the comparison fails (ranking differs or an error is beyond the tolerance).
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --short) SHORT=1 ;;
        --out) shift; OUT="${1:?--out needs a directory}" ;;
        --no-build) BUILD=0 ;;
        --keep) KEEP=1 ;;
        --tolerance) shift; TOLERANCE="${1:?--tolerance needs a number}" ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "validate: unknown option '$1'" >&2; usage >&2; exit 2 ;;
        *) [ -z "$SCENARIO" ] || { echo "validate: one scenario only" >&2; exit 2; }; SCENARIO="$1" ;;
    esac
    shift
done

step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\nvalidate: error: %s\n' "$*" >&2; exit 1; }

cd "$REPO_ROOT"
SCENARIO="${SCENARIO:-docker/validation.toml}"
[ -f "$SCENARIO" ] || die "scenario $SCENARIO not found"
command -v python3 >/dev/null || die "python3 is needed to read the scenario"
command -v docker-compose >/dev/null || die "docker-compose is not installed"
docker info >/dev/null 2>&1 || die "cannot talk to the docker daemon"
STARTED=$SECONDS

# ---------------------------------------------------------------------------------------------
step "plan from $SCENARIO"
PLAN_DIR="$(mktemp -d)"
trap 'rm -rf "$PLAN_DIR"' EXIT
if [ "$SHORT" -eq 1 ]; then limits=(2 150); else limits=(0 0); fi
python3 "$SCRIPT_DIR/validate_plan.py" "$SCENARIO" "$PLAN_DIR" "${limits[@]}"
# shellcheck disable=SC1091
. "$PLAN_DIR/plan.env"
OUT="${OUT:-results/live/$SCENARIO_NAME}"
mkdir -p "$OUT/live/logs"
OUT="$(cd "$OUT" && pwd)"
cp "$PLAN_DIR"/{zones.toml,compose.override.yml,faults.tsv,plan.env} "$OUT/live/"
read -r -a STRATS <<<"$STRATEGY_NAMES"
info "scenario $SCENARIO_NAME (seed $SCENARIO_SEED): ${#STRATS[@]} strategies (${STRATS[*]}), ${DURATION_S} s each"
info "nodes: $WORKERS workers, queue $QUEUE_CAP, cache ${CACHE_MB} MB, ${NODE_CPUS} CPU, ${NODE_MEM_MB} MB (the scenario's [node_defaults])"
info "faults: $(awk -F'\t' '{printf "%s %s@%.1fs  ", $3, $2, $1/1000}' "$OUT/live/faults.tsv")"
[ -z "$SEED_NOTE" ] || info "note: $SEED_NOTE"
info "output: $OUT"

# Everything compose needs, from the plan; ports moved off the defaults so a running stack of
# the user's is not disturbed.
export VIDMESH_NODE_CPUS="$NODE_CPUS" VIDMESH_NODE_MEM_MB="$NODE_MEM_MB" VIDMESH_WORKERS="$WORKERS" \
    VIDMESH_QUEUE_CAP="$QUEUE_CAP" VIDMESH_CACHE_MB="$CACHE_MB" VIDMESH_HOP_LIMIT="$HOP_LIMIT"
PORT_BASE="${VIDMESH_VALIDATE_PORT_BASE:-18100}"
for i in 1 2 3 4 5; do export "VIDMESH_NODE${i}_PORT=$((PORT_BASE + i))"; done
export VIDMESH_DASHBOARD_PORT=$((PORT_BASE + 5))
export VIDMESH_ZONES_FILE="$OUT/live/zones.toml" VIDMESH_VALIDATE_LIVE_DIR="$OUT/live" \
    VIDMESH_VALIDATE_CATALOG="$OUT/live/catalog"
DC=(docker-compose -p "$PROJECT" -f "$REPO_ROOT/docker-compose.yml" -f "$OUT/live/compose.override.yml")
NODES=(node1 node2 node3 node4 node5)

teardown() {
    "${DC[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
}
on_exit() {
    local rc=$?
    [ "$KEEP" -eq 1 ] && [ "$rc" -eq 0 ] || teardown
    rm -rf "$PLAN_DIR"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
if [ "$BUILD" -eq 1 ]; then
    step "images (docker/build-offline.sh)"
    "$SCRIPT_DIR/build-offline.sh" > "$OUT/live/logs/build.log" 2>&1 \
        || { tail -n 30 "$OUT/live/logs/build.log" >&2; die "image build failed (log: $OUT/live/logs/build.log)"; }
    grep -E 'took|^==> done' "$OUT/live/logs/build.log" | sed 's/^ */    /'
fi
docker image inspect "$VIDMESH_IMAGE" >/dev/null 2>&1 || die "image $VIDMESH_IMAGE does not exist; run docker/build-offline.sh"

step "clip catalog ($CATALOG_FILES clips of up to ${CATALOG_MAX_SECONDS} s, ${CATALOG_MAX_HEIGHT}p, seed $SCENARIO_SEED)"
CATALOG="$OUT/live/catalog"
if [ -f "$CATALOG/catalog.csv" ]; then
    info "reusing $CATALOG"
else
    docker run --rm -e NO_COLOR=1 -v "$CATALOG:/catalog" "$VIDMESH_IMAGE" vidmesh-node catalog --out /catalog \
        --count "$CATALOG_FILES" --seed "$SCENARIO_SEED" --max-seconds "$CATALOG_MAX_SECONDS" \
        --max-height "$CATALOG_MAX_HEIGHT" | sed 's/^/    /'
fi

# ---------------------------------------------------------------------------------------------
# Container ids by node name; plain docker calls take ~0.1 s where docker-compose (v1, Python)
# takes 1-3 s, which would shift the faults.
declare -A CID
resolve_containers() {
    local n
    for n in "${NODES[@]}"; do
        CID[$n]="$("${DC[@]}" ps -q "$n")"
        [ -n "${CID[$n]}" ] || die "no container for $n"
    done
}

wait_healthy() {
    # Every node healthy (compose healthcheck) and knowing the other four as alive.
    local deadline=$((SECONDS + ${1:-90})) n health alive
    while :; do
        local ok=1
        for n in "${NODES[@]}"; do
            health="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "${CID[$n]}" 2>/dev/null || true)"
            alive="$(docker exec "${CID[$n]}" curl -fsS http://127.0.0.1:8000/status 2>/dev/null \
                | python3 -c 'import json,sys; print(json.load(sys.stdin).get("alive_peers", 0))' 2>/dev/null || echo 0)"
            if [ "$health" != healthy ] || [ "$alive" -lt 4 ]; then ok=0; fi
        done
        [ "$ok" -eq 1 ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 1
    done
}

now_ms() { date +%s%3N; }

apply_faults() {
    # Runs in the background; times in faults.tsv count from the scenario's t = 0, which is
    # START_S before the client starts. The client's clock starts with its container, so t0 is
    # that container's start time as docker recorded it.
    local strategy=$1 at node kind wait_ms t t0_ms="" cid started deadline=$((SECONDS + 60))
    while [ -z "$t0_ms" ]; do
        cid="$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" \
            --filter "label=com.docker.compose.service=client" | head -n1)"
        if [ -n "$cid" ]; then
            started="$(docker inspect -f '{{.State.StartedAt}}' "$cid" 2>/dev/null || true)"
            [ -z "$started" ] || t0_ms="$(date -d "$started" +%s%3N)"
        fi
        [ -n "$t0_ms" ] || { [ "$SECONDS" -lt "$deadline" ] || return 0; sleep 0.1; }
    done
    while IFS=$'\t' read -r at node kind; do
        [ -n "$at" ] || continue
        wait_ms=$((at - START_MS - ($(now_ms) - t0_ms)))
        [ "$wait_ms" -le 0 ] || sleep "$(awk -v m="$wait_ms" 'BEGIN{printf "%.3f", m/1000}')"
        t=$(( $(now_ms) - t0_ms + START_MS ))
        case "$kind" in
            crash) docker kill -s KILL "${CID[$node]}" >/dev/null ;;
            restart) docker start "${CID[$node]}" >/dev/null ;;
            pause) docker pause "${CID[$node]}" >/dev/null ;;
            resume) docker unpause "${CID[$node]}" >/dev/null ;;
        esac
        printf '%s,%s,%s,%s\n' "$strategy" "$t" "$kind" "$node" >> "$OUT/live/events.part"
        printf '    [%s] t=%.1fs %s %s\n' "$(date +%H:%M:%S)" "$(awk -v m="$t" 'BEGIN{print m/1000}')" "$kind" "$node"
    done < "$OUT/live/faults.tsv"
}

rm -f "$OUT/live/events.part" "$OUT/live/raw-"*.csv
i=0
for strategy in "${STRATS[@]}"; do
    json_var="STRATEGY_JSON_$i"
    export VIDMESH_STRATEGY_JSON="${!json_var}"
    i=$((i + 1))
    step "strategy $strategy ($VIDMESH_STRATEGY_JSON): fresh cluster"
    teardown
    "${DC[@]}" up -d "${NODES[@]}" 2>&1 | sed -e '/^Creating/d' -e 's/^/    /'
    resolve_containers
    wait_healthy 120 || { "${DC[@]}" ps; die "the nodes did not become healthy and fully meshed within 120 s"; }
    info "five nodes healthy, each sees the other four"
    [ "$START_MS" -eq 0 ] || sleep "$START_S"

    step "strategy $strategy: client for ${CLIENT_DURATION_S} s"
    apply_faults "$strategy" &
    faults_pid=$!
    # The client writes /results/requests-<label>.csv; its times count from its own start.
    "${DC[@]}" run --rm -T --no-deps \
        -e LABEL="$strategy" -e SEED="$SCENARIO_SEED" -e DURATION_S="$CLIENT_DURATION_S" \
        -e BATCH_SIZE="$BATCH_SIZE" -e PAUSE_MS="$PAUSE_MS" -e POISSON_RATE="$POISSON_RATE" \
        -e ATTEMPT_TIMEOUT_MS="$ATTEMPT_TIMEOUT_MS" -e MAX_ATTEMPTS="$MAX_ATTEMPTS" \
        client 2>&1 | sed -e '/^Creating/d' -e 's/^/    client: /' \
        || { kill "$faults_pid" 2>/dev/null || true; die "the client failed for $strategy"; }
    # Faults scheduled past the client's end are not applied (the sim does not count them).
    kill "$faults_pid" 2>/dev/null || true
    wait "$faults_pid" 2>/dev/null || true
    mv "$OUT/live/requests-$strategy.csv" "$OUT/live/raw-$strategy.csv"
    "${DC[@]}" logs --no-color "${NODES[@]}" > "$OUT/live/logs/$strategy.log" 2>&1 || true
    if [ "$KEEP" -eq 0 ] || [ "$i" -lt "${#STRATS[@]}" ]; then teardown; fi
done

# ---------------------------------------------------------------------------------------------
step "merge live CSVs"
python3 - "$OUT/live" "$START_MS" "$DURATION_S" "${STRATS[@]}" <<'EOF'
import csv, sys
from pathlib import Path
d, start_ms, duration_s, strategies = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
rows, header = [], None
for s in strategies:
    with open(d / f"raw-{s}.csv", newline="") as fh:
        r = list(csv.reader(fh))
    header = r[0]
    si, ei = header.index("submit_ms"), header.index("end_ms")
    body = sorted(r[1:], key=lambda row: int(row[1]))
    for row in body:
        # The client's clock starts with its first request; the scenario's at t = start_s.
        row[si], row[ei] = str(int(row[si]) + start_ms), str(int(row[ei]) + start_ms)
    rows += body
with open(d / "requests.csv", "w", newline="") as fh:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
ev = d / "events.part"
lines = ev.read_text().splitlines() if ev.exists() else []
order = {s: i for i, s in enumerate(strategies)}
lines.sort(key=lambda l: (order[l.split(",")[0]], int(l.split(",")[1])))
(d / "events.csv").write_text("strategy,time_ms,kind,node\n" + "".join(l + "\n" for l in lines))
ev.unlink(missing_ok=True)
# summary.csv as docs/metrics.md defines it, derived from requests.csv (the sim computes the same
# from its run records). Two limits of the live side: offloads are counted from the requests that
# came back (an offload that failed and fell back names no peer, so it is not counted), and
# duration_s is the scenario's duration or the last request's end, whichever is later.
col = {name: i for i, name in enumerate(header)}
def pct(sorted_vals, p):  # nearest rank, as the sim's metrics
    if not sorted_vals:
        return None
    rank = -(-p * len(sorted_vals) // 100)
    return float(sorted_vals[min(max(int(rank), 1), len(sorted_vals)) - 1])
f3 = lambda v: "" if v is None else f"{v:.3f}"
summary = ["strategy,requests,succeeded,failed,timeouts,rejected,success_rate,goodput_per_s,"
           "latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,offloads_same_zone,"
           "offloads_cross_zone,cache_hits,duration_s"]
print("    strategy       requests     ok  success  goodput/s  p50 ms  p95 ms")
for s in strategies:
    sel = [r for r in rows if r[0] == s]
    out = {k: 0 for k in ("ok", "error", "timeout", "rejected")}
    lat, hits, same, cross = [], 0, 0, 0
    for r in sel:
        o = r[col["outcome"]]
        out["rejected" if o == "unavailable" else o] += 1
        if o == "ok":
            lat.append(int(r[col["latency_ms"]]))
            hits += r[col["cache_hit"]] == "1"
            if r[col["offloaded"]] == "1" and r[col["fallback"]] != "1":
                if r[col["exec_zone"]] == r[col["entry_zone"]]:
                    same += 1
                else:
                    cross += 1
    lat.sort()
    n = len(sel)
    dur = max(duration_s, max((int(r[col["end_ms"]]) for r in sel), default=0) / 1000)
    mean = sum(lat) / len(lat) if lat else None
    summary.append(",".join([s, str(n), str(out["ok"]), str(out["error"]), str(out["timeout"]),
        str(out["rejected"]), f3(out["ok"] / n if n else 0.0), f3(out["ok"] / dur if dur else 0.0),
        f3(mean), f3(pct(lat, 50)), f3(pct(lat, 95)), f3(pct(lat, 99)), str(same), str(cross),
        str(hits), f3(dur)]))
    print(f"    {s:<14} {n:>8} {out['ok']:>6} {out['ok'] / max(n, 1):>8.3f} {out['ok'] / dur:>10.3f}"
          f" {pct(lat, 50) or 0:>7.0f} {pct(lat, 95) or 0:>7.0f}")
(d / "summary.csv").write_text("\n".join(summary) + "\n")
EOF
rm -f "$OUT/live/raw-"*.csv

step "sim run of the same scenario"
strategy_args=()
for s in "${STRATS[@]}"; do strategy_args+=(--strategy "$s"); done
mkdir -p "$OUT/sim"
# The scenario with the live clips as its catalog, so both executors draw from one workload.
python3 "$SCRIPT_DIR/validate_plan.py" sim-scenario "$SCENARIO" "$CATALOG/catalog.csv" \
    "$OUT/sim/scenario.toml" "$DURATION_S"
docker run --rm -v "$OUT/sim:/out" "$VIDMESH_IMAGE" \
    sim run /out/scenario.toml --out /out --no-charts "${strategy_args[@]}" 2>&1 | sed 's/^/    /' \
    || die "sim run failed"

step "compare (vidmesh-analysis compare, tolerance $TOLERANCE)"
if docker run --rm "$VIDMESH_IMAGE" vidmesh-analysis compare --help >/dev/null 2>&1; then
    set +e
    docker run --rm -v "$OUT:/out" "$VIDMESH_IMAGE" vidmesh-analysis compare /out/sim /out/live \
        --out /out/compare --tolerance "$TOLERANCE" 2>&1 | sed 's/^/    /'
    COMPARE_RC=${PIPESTATUS[0]}
    set -e
else
    info "this image has no vidmesh-analysis; the two runs are in $OUT/sim and $OUT/live"
    COMPARE_RC=0
fi

step "done in $((SECONDS - STARTED)) s: $OUT"
[ "$COMPARE_RC" -eq 0 ] || die "sim and live disagree beyond the tolerance (see $OUT/compare)"
