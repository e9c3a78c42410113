#!/usr/bin/env python3
"""Writes the simulator's twin of one `scripts/overload-live` sitting.

scenarios/overload_twin.toml with its catalog shaped like the live clips (their resolutions,
frame rate, durations, sizes) and its cost curve scaled so the curve's mean cost of the measured
clips is what the sitting measured, with their spread around the curve as the per-job noise;
the nodes start from the default curve (prior_scale), as live nodes do, and learn the machine
from their own transcodes.

    overload-twin.py CATALOG_CSV PROBE_CPU_S DURATION_S OUT_TOML CLIP=CPU_S...
"""
import csv
import math
import re
import sys


def main() -> None:
    cat, probe_s, duration, out = sys.argv[1:5]
    probe_s = float(probe_s)
    measured = {}
    for arg in sys.argv[5:]:
        name, _, cpu_s = arg.partition("=")
        measured[name.split("_")[0]] = float(cpu_s)
    rows = list(csv.DictReader(open(cat)))
    if not rows:
        sys.exit(f"error: {cat} lists no clips")
    # Every variant of a base clip has its picture: clip001v002_… belongs to clip001.
    by_base = {}
    for r in rows:
        by_base.setdefault(r["file"].split("_")[0].split("v")[0], r)
    text = open("scenarios/overload_twin.toml").read()

    def coef(k: str) -> float:
        m = re.search(rf"^{k} = ([0-9.e-]+)$", text, re.M)
        if not m:
            sys.exit(f"error: scenarios/overload_twin.toml has no `{k} = …` line")
        return float(m.group(1))

    c = {k: coef(k) for k in ("base_s", "per_mpf_s", "per_frame_s")}

    def curve(r: dict) -> float:
        w, h, fr = int(r["width"]), int(r["height"]), int(r["frames"])
        return c["base_s"] + c["per_mpf_s"] * w * h * fr / 1e6 + c["per_frame_s"] * fr

    pairs = [(cpu_s, curve(by_base[b])) for b, cpu_s in measured.items() if b in by_base]
    if not pairs:
        sys.exit("error: none of the measured clips is in the catalog")
    cpu_per_clip = sum(m for m, _ in pairs) / len(pairs)
    scale = cpu_per_clip / (sum(c for _, c in pairs) / len(pairs))
    # How far single clips stray from the scaled curve: the lognormal noise's sigma.
    logs = [math.log(m / (c * scale)) for m, c in pairs if m > 0]
    mean = sum(logs) / len(logs)
    sigma = math.sqrt(sum((x - mean) ** 2 for x in logs) / max(len(logs) - 1, 1))

    def set_line(text: str, key: str, value: str) -> str:
        return re.sub(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)

    for k, v in c.items():
        text = set_line(text, k, f"{v * scale:.6g}")
    text = set_line(text, "prior_scale", f"{1 / scale:.6g}")
    text = set_line(text, "probe_s", f"{probe_s}")
    text = set_line(text, "noise", f'{{ kind = "lognormal", sigma = {sigma:.3f} }}')
    text = set_line(text, "duration_s", duration)

    secs = [int(r["duration_ms"]) / 1000 for r in rows]
    fps = sum(int(r["frames"]) for r in rows) / sum(secs)
    mb = [int(r["size_bytes"]) / 1e6 for r in rows]
    mbps = [int(r["size_bytes"]) * 8 / 1e3 / int(r["duration_ms"]) for r in rows]
    res = ", ".join(f"[{r['width']}, {r['height']}]" for r in by_base.values())
    catalog = (
        "[catalog]\nfiles = 20000\n"
        f"resolutions = [{res}]\nfps = {fps:.3f}\n"
        f"duration_s = [{min(secs)}, {max(secs)}]\n"
        f"bitrate_mbps = [{min(mbps):.3f}, {max(mbps):.3f}]\n"
        f"size_mb = [{min(mb) * 0.9:.2f}, {max(mb) * 1.1:.2f}]\n\n"
    )
    text, n = re.subn(r"^\[catalog\]\n(?:[^\[\n].*\n|\n)*", catalog, text, count=1, flags=re.M)
    if n != 1:
        sys.exit("error: scenarios/overload_twin.toml has no [catalog] table")
    open(out, "w").write(text)
    print(
        f"   twin: curve ×{scale:.3f} (measured {cpu_per_clip:.3f} CPU-s per clip), "
        f"per-clip spread σ {sigma:.3f}, probe {probe_s} CPU-s"
    )


if __name__ == "__main__":
    main()
