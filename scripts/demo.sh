#!/usr/bin/env bash
# rtvirtio demo, in two acts on throw-away devices (never vda, never a cgroup
# it did not make; everything removed on exit, Ctrl-C included):
#  1. a fast, lightly loaded loop device: the kernel's own scheduler already
#     meets every target, and rtvirtio says so and changes nothing;
#  2. a slow device the three guests contend for (a FUSE file serving one
#     4 KiB read at a time): with the kernel's defaults the urgent guest
#     misses; rtvirtio plans, applies (caps for the least urgent), and the
#     guests are measured again — fio in the guests and rtvirtio observe in
#     the kernel, the plan's prediction beside each measurement.
set -euo pipefail
BIN=${1:-.build/release/rtvirtio}
BIN=$(readlink -f "$BIN")
FUSED=$(dirname "$BIN")/rtvirtio-fused
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it makes loop devices and cgroups)"; exit 1; }
BLKIO=/sys/fs/cgroup/blkio
[ -d "$BLKIO" ] || { echo "demo: needs the v1 blkio hierarchy at $BLKIO"; exit 1; }
[ -x "$FUSED" ] || { echo "demo: needs $FUSED (make build builds it)"; exit 1; }

WORK=$(mktemp -d /tmp/rtvirtio-demo.XXXXXX)
ROOT=rtvirtio-demo-$$
LOOPS=()
FUSE_PID=""
SECONDS_PER_RUN=10
cleanup() {
  set +e
  pkill -KILL -f "rtvirtio-demo-fio-$$" 2>/dev/null
  sleep 0.3
  for state in "$WORK"/state-*; do [ -f "$state/journal.json" ] && "$BIN" restore --state-dir "$state" >/dev/null; done
  for g in vm0 vm1 vm2; do rmdir "$BLKIO/$ROOT/$g" 2>/dev/null; done
  rmdir "$BLKIO/$ROOT" 2>/dev/null
  # a loop queue keeps its scheduler across detach: leave it at the default
  for loop in "${LOOPS[@]}"; do echo none > "/sys/block/$(basename "$loop")/queue/scheduler"; losetup -d "$loop"; done
  [ -n "$FUSE_PID" ] && { umount "$WORK/fuse" 2>/dev/null; kill "$FUSE_PID" 2>/dev/null; wait "$FUSE_PID" 2>/dev/null; }
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

mkdir -p "$BLKIO/$ROOT"/{vm0,vm1,vm2}

# targets FILE DEVICE IOPS [CAPACITY]: three guests, vm0 the most urgent
targets() {
  {
    echo "device: $2"
    [ -n "${4:-}" ] && echo "capacity: {readIops: $4}   # measured above with fio"
    echo "guests:"
    echo "  - {name: vm0, criticality: 1, match: {cgroup: vm0}, tasks: [{name: db, iops: $3, targetMs: 25}]}"
    echo "  - {name: vm1, criticality: 2, match: {cgroup: vm1}, tasks: [{name: web, iops: $3, targetMs: 50}]}"
    echo "  - {name: vm2, criticality: 3, match: {cgroup: vm2}, tasks: [{name: batch, iops: $3, targetMs: 100}]}"
  } > "$1"
}

# measure LABEL TARGETS DEVICE IOPS: fio in each cgroup (the shell joins it, then execs
# fio, so the first I/O is charged there) while rtvirtio observes in the kernel.
measure() {
  "$BIN" observe --targets "$2" --cgroup-root "$ROOT" --duration-s $((SECONDS_PER_RUN + 2)) --format json > "$WORK/$1-observe.json" 2>/dev/null &
  local observer=$!
  sleep 1
  local loads=()
  for g in vm0 vm1 vm2; do
    sh -c "echo \$\$ > $BLKIO/$ROOT/$g/cgroup.procs; exec fio --name=rtvirtio-demo-fio-$$ --filename=$3 --rw=randread --bs=4k \
      --direct=1 --ioengine=psync --rate_iops=$4 --time_based --runtime=$SECONDS_PER_RUN --output-format=json --output=$WORK/$1-$g.json" &
    loads+=($!)
  done
  wait "${loads[@]}"
  wait "$observer" || echo "(rtvirtio observe could not run: the kernel columns stay empty)"
}

# predictions LABEL JSON: guest, target ms, asks IOPS, predicted ms, predicted IOPS (from plan or predict JSON)
predictions() {
  jq -r 'if .guests then (.guests[] | [.name, .tasks[0].targetMs, .tasks[0].requestedIops, .tasks[0].predictedMs, .tasks[0].predictedIops])
         else (.tasks[] | [.guest, .targetMs, .requestedIops, .predictedMs, .predictedIops]) end
         | map(if type=="number" then (.*10|round/10) elif . == null then "-" else . end) | @tsv' "$2" > "$WORK/$1-pred.tsv"
}

# table LABEL: per guest, target, the prediction, what fio and the kernel measured
table() {
  printf '%-5s %7s | %8s %9s | %10s %8s | %11s %9s | %s\n' guest target "pred ms" "pred IOPS" "fio p99.99" "fio IOPS" "kern p99.99" "kern IOPS" ""
  while IFS=$'\t' read -r g target asks pred_ms pred_iops; do
    local fio_ms fio_iops k_ms k_iops verdict
    fio_ms=$(jq -r '.jobs[0].read.clat_ns.percentile["99.990000"] // 0 | ./1e6*10|round/10' "$WORK/$1-$g.json")
    fio_iops=$(jq -r '.jobs[0].read.iops|round' "$WORK/$1-$g.json")
    k_ms=$(jq -r --arg g "$g" '(.guests[] | select(.name==$g) | .ops.read.p9999Ms // "-") | if type=="number" then (.*10|round/10) else . end' "$WORK/$1-observe.json" 2>/dev/null || echo -)
    # the kernel counts over the whole observation: its rate over the load's seconds
    k_iops=$(jq -r --arg g "$g" --argjson s "$SECONDS_PER_RUN" '(.guests[] | select(.name==$g) | .ops.read.count // "-") | if type=="number" then (./$s|round) else . end' "$WORK/$1-observe.json" 2>/dev/null || echo -)
    verdict=$(awk -v m="$fio_ms" -v t="$target" -v i="$fio_iops" -v a="$asks" 'BEGIN { print (m <= t && i >= 0.95 * a) ? "meets" : "MISSES" }')
    printf '%-5s %4s ms | %8s %9s | %10s %8s | %11s %9s | %s\n' "$g" "$target" "$pred_ms" "$pred_iops" "$fio_ms" "$fio_iops" "$k_ms" "$k_iops" "$verdict"
  done < "$WORK/$1-pred.tsv"
  echo "(pred: the model's prediction; fio: measured in the guest's process; kern: measured in the host kernel by rtvirtio observe)"
}

step "Act 1: a fast loop device, three guests asking 300 IOPS each"
truncate -s 256M "$WORK/fast.img"
FAST=$(losetup -f --show --direct-io=on "$WORK/fast.img"); LOOPS+=("$FAST")
echo none > "/sys/block/$(basename "$FAST")/queue/scheduler"   # loop's default, whatever a previous user left
dd if=/dev/urandom of="$FAST" bs=1M count=256 oflag=direct status=none
targets "$WORK/fast.yaml" "$FAST" 300
cat "$WORK/fast.yaml"
echo "scheduler: $(cat /sys/block/$(basename "$FAST")/queue/scheduler)"
"$BIN" plan --targets "$WORK/fast.yaml" --format json > "$WORK/fast-plan.json"
predictions fast "$WORK/fast-plan.json"
"$BIN" plan --targets "$WORK/fast.yaml" | head -4
"$BIN" apply --targets "$WORK/fast.yaml" --state-dir "$WORK/state-fast" --cgroup-root "$ROOT" | sed -n '/Wrote/,$p'
echo "scheduler after apply: $(cat /sys/block/$(basename "$FAST")/queue/scheduler)"
step "Act 1, measured ($SECONDS_PER_RUN s): the kernel's own scheduler, which rtvirtio kept"
measure fast "$WORK/fast.yaml" "$FAST" 300
table fast

step "Act 2: a slow device the guests contend for (FUSE, one 4 KiB read at a time, 284 µs each: 3521 IOPS)"
dd if=/dev/urandom of="$WORK/slow.img" bs=1M count=256 status=none
mkdir -p "$WORK/fuse"
"$FUSED" "$WORK/slow.img" "$WORK/fuse" 284 > "$WORK/fused.log" 2>&1 &
FUSE_PID=$!
for _ in $(seq 50); do [ -e "$WORK/fuse/disk" ] && break; sleep 0.1; done
SLOW=$(losetup -f --show --direct-io=on -r "$WORK/fuse/disk"); LOOPS+=("$SLOW")
echo none > "/sys/block/$(basename "$SLOW")/queue/scheduler"
CAPACITY=$(fio --name=capacity --filename="$SLOW" --rw=randread --bs=4k --direct=1 --ioengine=psync --numjobs=4 \
  --group_reporting --time_based --runtime=3 --output-format=json | jq '.jobs[0].read.iops|round')
echo "capacity: $CAPACITY IOPS of 4 KiB reads (fio, 4 jobs, 3 s); the guests will ask 3 x 1500 = 4500"
targets "$WORK/slow.yaml" "$SLOW" 1500 "$CAPACITY"
cat "$WORK/slow.yaml"

step "Act 2, before: the kernel's own scheduler (none), measured ($SECONDS_PER_RUN s)"
# the device as it is, as the models see it: no idling, equal weights, no caps
"$BIN" predict --targets "$WORK/slow.yaml" --host-slice-idle-ms 0 --format json > "$WORK/before-predict.json"
predictions before "$WORK/before-predict.json"
measure before "$WORK/slow.yaml" "$SLOW" 1500
table before

step "rtvirtio plan"
"$BIN" plan --targets "$WORK/slow.yaml"
"$BIN" plan --targets "$WORK/slow.yaml" --format json > "$WORK/slow-plan.json"
predictions after "$WORK/slow-plan.json"

step "rtvirtio apply"
"$BIN" apply --targets "$WORK/slow.yaml" --state-dir "$WORK/state-slow" --cgroup-root "$ROOT" | sed -n '/Wrote/,$p'

step "Act 2, after: rtvirtio's settings, measured ($SECONDS_PER_RUN s), the plan's prediction beside"
measure after "$WORK/slow.yaml" "$SLOW" 1500
table after

step "rtvirtio restore"
"$BIN" restore --state-dir "$WORK/state-slow"
echo "scheduler now: $(cat /sys/block/$(basename "$SLOW")/queue/scheduler)"

step "Cleaning up (loop devices, FUSE server, cgroups, temp files)"
