#!/usr/bin/env python3
"""Writes bench/cases/contended24.yaml from bench/cases/paper24.yaml: the
paper's 24 mixes scaled onto the device-bound testbed so that their total
demand spans 40 % to 130 % of its measured capacity.

usage: scripts/contended-cases.py CAPACITY_IOPS "how the capacity was measured"
The rule is written into the file it makes; run it once, before any scheme.
"""
import sys
import yaml

LOW, HIGH = 0.40, 1.30

def main():
    capacity = float(sys.argv[1])
    measured = sys.argv[2]
    paper = yaml.safe_load(open("bench/cases/paper24.yaml"))
    cases = paper["cases"]
    demand = {c["name"]: sum(t["iops"] for g in c["guests"] for t in g["tasks"]) for c in cases}
    # rank by the paper's total demand; ties keep the paper's order
    ranked = sorted(range(len(cases)), key=lambda i: (demand[cases[i]["name"]], i))
    fraction = {cases[i]["name"]: LOW + (HIGH - LOW) * r / (len(cases) - 1) for r, i in enumerate(ranked)}
    out = []
    for c in cases:
        share = fraction[c["name"]]
        scale = share * capacity / demand[c["name"]]
        guests = []
        for g in c["guests"]:
            tasks = [{"name": t["name"], "iops": max(10, int(round(t["iops"] * scale))), "targetMs": t["targetMs"]} for t in g["tasks"]]
            guests.append({"name": g["name"], "criticality": g["criticality"], "tasks": tasks})
        total = sum(t["iops"] for g in guests for t in g["tasks"])
        out.append((c["name"], share, scale, total, guests))
    lines = [
        "# The paper's 24 mixes on the device-bound testbed (rtvirtio lab testbed up --regime device-bound:",
        "# a loop device over rtvirtio-fused, reads served one at a time, 200 us per 4 KiB), scaled so that",
        "# the guests contend for it. Made by scripts/contended-cases.py; do not edit by hand.",
        f"# Capacity: {capacity:.0f} IOPS of 4 KiB random reads ({measured}).",
        "capacityIops: %d" % round(capacity),
        "scaleRule: >-",
        "  Each case keeps the paper's guests and task mix (L:M:H = 100:500:1500). The 24 cases are ranked by",
        "  the paper's total demand (ties in the paper's order); case r of 0..23 is scaled so that its total",
        f"  demand is ({LOW:.2f} + {HIGH - LOW:.2f} x r / 23) x capacity, i.e. from 40 % to 130 % of the",
        "  capacity above; every task's IOPS is the paper's times that case's factor, rounded, at least 10.",
        "  Each case's factor and load are in its comment.",
        "targetRule: >-",
        "  Targets tiered by criticality, the same for every case and as in paper24.yaml: vm0 25 ms,",
        "  vm1 50 ms, vm2 100 ms, vm3 200 ms (p99.99 over the run), and >= 95 % of the demanded IOPS.",
        "  Fixed from the device-bound calibration data alone (data/calibration/device-bound-30s.csv,",
        "  measured before any scheme ran): without idling its tasks' p99.99 (mean of 1-second windows) was",
        "  4.2 ms at the median and 5.6 ms at the worst; with idling 75 ms at the 10th percentile and",
        "  264 ms at the median. So vm0 and vm1 pass only if they neither stall nor starve, and the",
        "  least urgent guests can afford some idling. Never changed after measuring a scheme.",
        "# the host knobs the rtvirtio schemes may choose from: Table II plus slice_idle 0",
        "search: {hostTimeoutSyncMs: [32, 64, 124], hostSliceIdleMs: [0, 1, 2, 4, 6, 8]}",
        "cases:",
    ]
    for name, share, scale, total, guests in out:
        lines.append(f"  # {share * 100:.0f} % of capacity ({total} IOPS), factor {scale:.3f}")
        lines.append(f"  - name: {name}")
        lines.append("    regime: device-bound")
        lines.append("    guests:")
        for g in guests:
            tasks = ", ".join("{name: %s, iops: %d, targetMs: %g}" % (t["name"], t["iops"], t["targetMs"]) for t in g["tasks"])
            lines.append(f"      - {{name: {g['name']}, criticality: {g['criticality']}, tasks: [{tasks}]}}")
    open("bench/cases/contended24.yaml", "w").write("\n".join(lines) + "\n")

main()
