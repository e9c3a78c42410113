#!/usr/bin/env python3
"""Turn a vidmesh scenario into the plan docker/validate.sh runs with docker-compose.

Writes into OUT:
  plan.env               shell variables (sourced by validate.sh)
  compose.override.yml   per-node settings the compose file does not carry (strategy JSON,
                         gossip timing, zone table, timeouts)
  zones.toml             the scenario's [network] table, mounted into every node
  faults.tsv             at_ms  node  action   (crash/restart/pause/resume, sorted by time)

The compose file runs the report's five nodes; a scenario with other nodes is refused rather
than silently run on a different topology.
"""

import json
import math
import shlex
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    try:
        import tomli as tomllib  # type: ignore
    except ModuleNotFoundError:
        sys.exit("validate: needs Python 3.11+ (tomllib) or the tomli package to read scenarios")

COMPOSE_NODES = {
    "node1": ("FRA", ["node2", "node3", "node4"]),
    "node2": ("IAD", ["node3", "node4", "node5"]),
    "node3": ("BOM", ["node4", "node5", "node1"]),
    "node4": ("FRA", ["node5", "node1", "node2"]),
    "node5": ("IAD", ["node1", "node2", "node3"]),
}


def fail(scenario, msg):
    sys.exit(f"validate: {scenario}: {msg}")


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def sim_scenario(src, catalog_csv, dst, duration_s):
    """Writes SRC with its [catalog] replaced by the live clips of CATALOG_CSV as explicit
    videos, so `sim run` draws from the very clips the live client uploads, and its duration set
    to the live run's."""
    import csv
    with open(catalog_csv, newline="") as fh:
        clips = list(csv.DictReader(fh))
    if not clips:
        sys.exit(f"validate: {catalog_csv} lists no clips")
    kept, skipping, top = [], False, True
    for line in Path(src).read_text().splitlines():
        header = line.strip()
        if top and header.split("=")[0].strip() == "duration_s":
            line = f"duration_s = {float(duration_s)}"
        if header.startswith("["):
            top = False
            name = header.strip("[]").strip()
            skipping = name == "catalog" or name.startswith("catalog.")
        if not skipping:
            kept.append(line)
    kept += ["", "# The live run's clips (docker/validate.sh, from " + Path(catalog_csv).name + ").",
             "[catalog]", "videos = ["]
    for c in clips:
        frames, ms = int(c["frames"]), int(c["duration_ms"])
        fps = frames * 1000.0 / ms if ms > 0 else 25.0
        kept.append(f"  {{ width = {int(c['width'])}, height = {int(c['height'])}, frames = {frames}, "
                    f"size_mb = {int(c['size_bytes']) / 1e6:.6f}, fps = {fps:.3f} }},  # {c['file']}")
    kept.append("]")
    Path(dst).write_text("\n".join(kept) + "\n")


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "sim-scenario":
        return sim_scenario(*sys.argv[2:])
    if len(sys.argv) != 5:
        sys.exit("usage: validate_plan.py SCENARIO OUT MAX_STRATEGIES MAX_DURATION_S (0 = no limit)\n"
                 "       validate_plan.py sim-scenario SCENARIO CATALOG_CSV OUT_TOML DURATION_S")
    path, out = Path(sys.argv[1]), Path(sys.argv[2])
    max_strategies, max_duration_s = int(sys.argv[3]), float(sys.argv[4])
    try:
        sc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(path, f"cannot read: {e}")

    nodes = sc.get("nodes", [])
    if sc.get("generate") or not nodes:
        fail(path, "generated topologies cannot run in docker-compose; list the report's five [[nodes]]")
    found = {n["name"]: (n["zone"], list(n.get("seeds", []))) for n in nodes}
    if set(found) != set(COMPOSE_NODES) or any(found[k][0] != COMPOSE_NODES[k][0] for k in found):
        fail(path, "docker-compose.yml runs node1..node5 in FRA, IAD, BOM, FRA, IAD; "
                   f"this scenario has {sorted((k, v[0]) for k, v in found.items())}")
    seed_note = ""
    if any(found[k][1] and found[k][1] != COMPOSE_NODES[k][1] for k in found):
        seed_note = "the scenario's seed lists differ from the compose file's; the compose file's are used"

    defaults = sc.get("node_defaults", {})
    per_node = [n for n in nodes if any(k in n for k in ("workers", "queue_cap", "cache_mb", "cores", "memory_mb"))]
    if per_node:
        fail(path, "per-node workers/queue/cache/cores/memory are not supported by validate.sh; use [node_defaults]")
    cores = float(defaults.get("cores", 0.4))
    memory_mb = int(defaults.get("memory_mb", 1024))

    strategies = sc.get("strategies", [])
    if not strategies:
        fail(path, "no [[strategies]]")
    if max_strategies > 0:
        strategies = strategies[:max_strategies]

    duration_s = float(sc["duration_s"])
    if max_duration_s > 0:
        duration_s = min(duration_s, max_duration_s)
    wl = sc.get("workload", {})
    kind = wl.get("kind", "batch")
    if kind == "none":
        fail(path, "workload kind 'none' has no client to validate")
    start_s = float(wl.get("start_s", 0))
    if wl.get("targets"):
        fail(path, "workload.targets is not supported yet by validate.sh (the compose client sends to every node)")

    net = sc["network"]
    zones = net["zones"]
    lines = ["# written by docker/validate_plan.py from " + str(path),
             f"zones = {toml_value(zones)}",
             f"unknown_rtt_ms = {toml_value(float(net.get('unknown_rtt_ms', 100)))}"]
    for link in net.get("links", []):
        lines.append("[[links]]")
        for k, v in link.items():
            lines.append(f"{k} = {toml_value(v)}")
    (out / "zones.toml").write_text("\n".join(lines) + "\n")

    gossip = sc.get("gossip", {})
    node_env = {
        "GOSSIP_JSON": json.dumps(gossip, sort_keys=True) if gossip else None,
        "ZONES_FILE": "/etc/vidmesh/zones.toml",
        "CONNECT_TIMEOUT_MS": net.get("connect_timeout_ms"),
        "OFFLOAD_TIMEOUT_MS": net.get("offload_timeout_ms"),
        # The strategy of the current run; validate.sh exports it before each `up`.
        "STRATEGY_JSON": "${VIDMESH_STRATEGY_JSON}",
    }
    y = ["# written by docker/validate_plan.py from " + str(path), "services:"]
    for name in sorted(COMPOSE_NODES):
        y.append(f"  {name}:")
        y.append("    environment:")
        for k, v in node_env.items():
            if v is not None:
                y.append(f"      {k}: {json.dumps(str(v).replace('$', '$$') if k != 'STRATEGY_JSON' else v)}")
        y.append("    volumes:")
        # validate.sh exports the path of its copy of zones.toml.
        y.append('      - "${VIDMESH_ZONES_FILE}:/etc/vidmesh/zones.toml:ro"')
    # The client writes into validate.sh's output directory and reads its catalog. (Set here, not
    # with `docker-compose run -v`: compose 1.29 does not reliably let a -v replace a volume the
    # service already mounts at the same path.)
    y += ["  client:", "    volumes:",
          '      - "${VIDMESH_VALIDATE_LIVE_DIR}:/results"',
          '      - "${VIDMESH_VALIDATE_CATALOG}:/catalog:ro"']
    (out / "compose.override.yml").write_text("\n".join(y) + "\n")

    events = []
    for f in sc.get("faults", []):
        at = int(round(float(f["at_s"]) * 1000))
        node, fk = f["node"], f["kind"]
        if node not in COMPOSE_NODES:
            fail(path, f"fault on unknown node {node!r}")
        dur = f.get("for_s")
        if fk == "crash":
            events.append((at, node, "crash"))
            if dur is not None:
                events.append((at + int(round(float(dur) * 1000)), node, "restart"))
        elif fk == "pause":
            if dur is None:
                fail(path, f"pause of {node} at {f['at_s']} s needs for_s")
            events.append((at, node, "pause"))
            events.append((at + int(round(float(dur) * 1000)), node, "resume"))
        else:
            fail(path, f"unknown fault kind {fk!r}")
    # Nothing happens after the run: faults past its end are dropped (the sim never reaches them).
    events = sorted(e for e in events if e[0] < duration_s * 1000)
    (out / "faults.tsv").write_text("".join(f"{a}\t{n}\t{k}\n" for a, n, k in events))

    cat = sc.get("catalog", {})
    if cat.get("videos"):
        fail(path, "explicit [catalog] videos cannot be generated live; use files/resolutions/duration_s")
    max_h = max((r[1] for r in cat.get("resolutions", [[640, 360], [1280, 720], [1920, 1080]])), default=1080)
    max_secs = int(math.ceil(float(cat.get("duration_s", [5, 30])[1])))

    env = {
        "SCENARIO_NAME": sc.get("name", path.stem),
        "SCENARIO_SEED": int(sc.get("seed", 1)),
        "DURATION_S": duration_s,
        "START_S": start_s,
        "START_MS": int(round(start_s * 1000)),
        "CLIENT_DURATION_S": max(duration_s - start_s, 0.0),
        "HOP_LIMIT": int(sc.get("hop_limit", 1)),
        "WORKERS": int(defaults.get("workers", 5)),
        "QUEUE_CAP": int(defaults.get("queue_cap", 20)),
        "CACHE_MB": int(defaults.get("cache_mb", 1024)),
        "NODE_CPUS": cores,
        "NODE_MEM_MB": memory_mb,
        "WORKLOAD_KIND": kind,
        "BATCH_SIZE": int(wl.get("batch_size", 100)),
        "PAUSE_MS": int(wl.get("pause_ms", 5000)),
        "POISSON_RATE": wl.get("rate_per_s", "") if kind == "poisson" else "",
        "ATTEMPT_TIMEOUT_MS": int(wl.get("attempt_timeout_ms", 40000)),
        "MAX_ATTEMPTS": int(wl.get("max_attempts", 5)),
        "CATALOG_FILES": int(cat.get("files", 60)),
        "CATALOG_MAX_SECONDS": max_secs,
        "CATALOG_MAX_HEIGHT": int(max_h),
        "STRATEGY_NAMES": " ".join(s["name"] for s in strategies),
        "SEED_NOTE": seed_note,
    }
    for i, s in enumerate(strategies):
        env[f"STRATEGY_JSON_{i}"] = json.dumps(s["strategy"], sort_keys=True)
    with open(out / "plan.env", "w") as fh:
        for k, v in env.items():
            fh.write(f"{k}={shlex.quote(str(v))}\n")


if __name__ == "__main__":
    main()
