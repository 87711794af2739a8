#!/usr/bin/env bash
# rtvirtio demo: a throw-away loop device with bfq, three cgroups with a
# small fio load each; plan, dry run, apply, status, measure, restore.
# Never touches vda or any cgroup it did not make; removes everything it
# made on exit, Ctrl-C included.
set -euo pipefail
BIN=${1:-.build/release/rtvirtio}
BIN=$(readlink -f "$BIN")
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it makes a loop device and cgroups)"; exit 1; }
BLKIO=/sys/fs/cgroup/blkio
[ -d "$BLKIO" ] || { echo "demo: needs the v1 blkio hierarchy at $BLKIO"; exit 1; }

WORK=$(mktemp -d /tmp/rtvirtio-demo.XXXXXX)
ROOT=rtvirtio-demo-$$
LOOP=""
cleanup() {
  set +e
  pkill -KILL -f "rtvirtio-demo-fio-$$" 2>/dev/null
  sleep 0.3
  [ -f "$WORK/state/journal.json" ] && "$BIN" restore --state-dir "$WORK/state" >/dev/null
  for g in vm0 vm1 vm2; do rmdir "$BLKIO/$ROOT/$g" 2>/dev/null; done
  rmdir "$BLKIO/$ROOT" 2>/dev/null
  # a loop queue keeps its scheduler across detach: leave it at the default
  [ -n "$LOOP" ] && { echo none > "/sys/block/$(basename "$LOOP")/queue/scheduler"; losetup -d "$LOOP"; }
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "A throw-away loop device and three cgroups"
truncate -s 256M "$WORK/disk.img"
LOOP=$(losetup -f --show --direct-io=on "$WORK/disk.img")
echo none > "/sys/block/$(basename "$LOOP")/queue/scheduler"   # start from loop's default, whatever a previous user left
dd if=/dev/urandom of="$LOOP" bs=1M count=256 oflag=direct status=none
mkdir -p "$BLKIO/$ROOT"/{vm0,vm1,vm2}
echo "device $LOOP ($(cat /sys/block/$(basename "$LOOP")/queue/scheduler)), cgroups under $BLKIO/$ROOT"

cat > "$WORK/targets.yaml" <<YAML
device: $LOOP
guests:
  - name: vm0
    criticality: 1
    match: {cgroup: vm0}
    tasks:
      - {name: db, iops: 500, requestKB: 4, targetMs: 350}
  - name: vm1
    criticality: 2
    match: {cgroup: vm1}
    tasks:
      - {name: web, iops: 500, requestKB: 4, targetMs: 900}
  - name: vm2
    criticality: 3
    match: {cgroup: vm2}
    tasks:
      - {name: batch, iops: 500, requestKB: 4, targetMs: 1500}
YAML
cat "$WORK/targets.yaml"
HOST=(--state-dir "$WORK/state" --cgroup-root "$ROOT")

# fio in a cgroup: the shell joins the cgroup, then execs fio, so the first I/O is charged there.
measure() {  # $1 = label
  for g in vm0 vm1 vm2; do
    sh -c "echo \$\$ > $BLKIO/$ROOT/$g/cgroup.procs; exec fio --name=rtvirtio-demo-fio-$$ --filename=$LOOP --rw=randread --bs=4k \
      --direct=1 --ioengine=psync --rate_iops=500 --time_based --runtime=8 --output-format=json --output=$WORK/$1-$g.json" &
  done
  wait
  printf '%-6s %10s %14s\n' guest IOPS "p99.99 ms"
  for g in vm0 vm1 vm2; do
    jq -r --arg g "$g" '.jobs[0].read | [$g, (.iops|floor), ((.clat_ns.percentile["99.990000"] // 0)/1e6*100|round/100)] | @tsv' \
      "$WORK/$1-$g.json" | awk '{printf "%-6s %10s %14s\n", $1, $2, $3}'
  done
}

step "Measured with the kernel's defaults (8 s of fio, 500 IOPS per cgroup)"
measure before

step "rtvirtio plan"
"$BIN" plan --targets "$WORK/targets.yaml"

step "rtvirtio apply --dry-run"
"$BIN" apply --dry-run --targets "$WORK/targets.yaml" "${HOST[@]}" | sed -n '/Would write/,$p'

step "rtvirtio apply"
"$BIN" apply --targets "$WORK/targets.yaml" "${HOST[@]}" 2>/dev/null | sed -n '/Wrote/,$p'

step "rtvirtio status"
"$BIN" status "${HOST[@]}"

step "Measured with rtvirtio's settings"
measure after

step "rtvirtio restore"
"$BIN" restore "${HOST[@]}"
echo "scheduler now: $(cat /sys/block/$(basename "$LOOP")/queue/scheduler)"

step "Cleaning up (loop device, cgroups, temp files)"
