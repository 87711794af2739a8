#!/bin/bash
# make e2e: rtvirtio beside real QEMU guests (TCG; KVM is not usable here).
# One loop device with bfq; each guest's virtio-blk disk is a region of it
# (raw driver offset/size; image locking off, the regions do not overlap), so the guests share the host's bfq queue. Each
# QEMU runs in a libvirt-shaped cgroup under a test root and carries
# -name guest=NAME. fio inside the guests measures p99.99 with the kernel
# defaults, after `rtvirtio apply`, and under `rtvirtio daemon`.
#   scripts/e2e.sh          the full run (3 guests, 3 phases; about 3 minutes); vm0's own bfq
#                           knobs are set through its QEMU guest agent
#   scripts/e2e.sh smoke    one guest boots, is found by each match kind, gets its weight, and
#                           gets guest-side knobs through its agent, read back and restored
# Removes everything it made (guests, cgroups, loop device, files), also on failure or Ctrl-C.
set -euo pipefail
MODE=${1:-full}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.build/release/rtvirtio}
CACHE=$ROOT/.build/e2e
BLKIO=/sys/fs/cgroup/blkio
TESTROOT=rtvirtio-e2e-$$
RUNTIME=${RUNTIME:-20}
MODEL=${MODEL:-idling}
WORK=$(mktemp -d /tmp/rtvirtio-e2e.XXXXXX)
LOOP=""
DAEMON=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "e2e: FAILED: $*" >&2; exit 1; }

cleanup() {
  set +e
  [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  for f in "$WORK"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
  sleep 0.5
  [ -f "$WORK/state/journal.json" ] && "$BIN" restore --state-dir "$WORK/state" >/dev/null
  if [ -d "$BLKIO/$TESTROOT" ]; then
    find "$BLKIO/$TESTROOT" -depth -type d -exec rmdir {} \; 2>/dev/null
  fi
  if [ -n "$LOOP" ]; then
    echo none > "/sys/block/$(basename "$LOOP")/queue/scheduler"
    losetup -d "$LOOP"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || fail "needs root (loop devices, cgroups)"
[ -d "$BLKIO" ] || fail "needs the v1 blkio hierarchy at $BLKIO"
[ -x "$BIN" ] || fail "no rtvirtio binary at $BIN (make build)"

# --- the guest kernel (scripts/guest-kernel.sh) and an initramfs, built once into .build/e2e ---
prepare() {
  local kernel key
  kernel=$("$ROOT/scripts/guest-kernel.sh") || fail "the guest kernel could not be fetched"
  key="v3 $(sha256sum "$ROOT/scripts/e2e-guest-init.sh" | cut -c1-16) $(cat "$kernel/key")"   # rebuild when the guest side changes
  [ -s "$CACHE/initrd.gz" ] && [ "$(cat "$CACHE/key" 2>/dev/null)" = "$key" ] && return
  say "A busybox + fio + qemu-ga initramfs for $(cat "$kernel/package")"
  # built beside the cache and renamed at the end, so a failed build is never reused
  local final=$CACHE
  CACHE=$final.tmp
  rm -rf "$CACHE" "$final" && mkdir -p "$CACHE/rootfs"
  local r=$CACHE/rootfs
  mkdir -p "$r"/{bin,dev,proc,sys,lib/modules}
  cp /bin/busybox "$r/bin/busybox"
  cp /usr/bin/fio "$r/bin/fio"
  cp "$kernel/qemu-ga" "$r/bin/qemu-ga"
  for lib in $(ldd /usr/bin/fio "$r/bin/qemu-ga" | awk '/=>/{print $3} /ld-linux/{print $1}' | sort -u); do
    mkdir -p "$r$(dirname "$lib")" && cp -L "$lib" "$r$lib"
  done
  cp "$kernel"/modules/*.ko "$r/lib/modules/"
  cp "$ROOT/scripts/e2e-guest-init.sh" "$r/init" && chmod +x "$r/init"
  (cd "$r" && find . | cpio -o -H newc --quiet | gzip -1 > "$CACHE/initrd.gz")
  cp "$kernel/vmlinuz" "$CACHE/vmlinuz"
  rm -rf "$r"
  echo "$key" > "$CACHE/key"
  mv "$CACHE" "$final"
  CACHE=$final
}
prepare

# --- one loop device with bfq, one region per guest -----------------------------
REGION_MB=64
GUESTS=(vm0 vm1 vm2)
[ "$MODE" = smoke ] && GUESTS=(vm0)
truncate -s $(( REGION_MB * ${#GUESTS[@]} ))M "$WORK/disk.img"
LOOP=$(losetup -f --show --direct-io=on "$WORK/disk.img")
dd if=/dev/urandom of="$LOOP" bs=1M count=$(( REGION_MB * ${#GUESTS[@]} )) oflag=direct status=none
echo bfq > "/sys/block/$(basename "$LOOP")/queue/scheduler"
mkdir -p "$BLKIO/$TESTROOT/machine.slice"

scope() { printf 'machine.slice/machine-qemu\\x2d%d\\x2d%s.scope' "$1" "$2"; }

# start_guest INDEX NAME JOBS PHASES: QEMU in its libvirt-shaped cgroup, moved there before exec
start_guest() {
  local index=$1 name=$2 jobs=$3 phases=$4
  local cg="$BLKIO/$TESTROOT/$(scope $((index + 1)) "$name")"
  mkdir -p "$cg"
  sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$cg" \
    qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nographic -no-reboot -display none -monitor none \
      -name "guest=$name" -pidfile "$WORK/$name.pid" \
      -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.gz" \
      -append "console=ttyS0 quiet loglevel=1 panic=-1 rtv.jobs=$jobs rtv.runtime=$RUNTIME rtv.phases=$phases" \
      -blockdev "driver=raw,node-name=d0,offset=$(( index * REGION_MB << 20 )),size=$(( REGION_MB << 20 )),file.driver=host_device,file.filename=$LOOP,file.cache.direct=on,file.aio=threads,file.locking=off" \
      -device virtio-blk-pci,drive=d0 \
      -chardev "socket,path=$WORK/$name.qga,server=on,wait=off,id=qga0" \
      -device virtio-serial -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
      -serial "file:$WORK/$name.log" >"$WORK/$name.qemu.log" 2>&1 &
  disown   # killed at clean-up; no job-control noise
}

wait_ready() {
  local deadline=$(( $(date +%s) + $1 )) name
  for name in "${GUESTS[@]}"; do
    until grep -q RTV-READY "$WORK/$name.log" 2>/dev/null; do
      if [ "$(date +%s)" -ge "$deadline" ] || { [ -s "$WORK/$name.qemu.log" ] && ! pgrep -f "guest=$name " >/dev/null; }; then
        fail "$name did not boot: $(cat "$WORK/$name.qemu.log" 2>/dev/null; tail -3 "$WORK/$name.log" 2>/dev/null)"
      fi
      sleep 0.5
    done
    echo "$name booted: $(grep -o 'RTV-READY.*' "$WORK/$name.log" | tr -d '\r')"
  done
}

weight_of() { # cgroup-relative path → this device's weight line
  grep "^$(cat "/sys/block/$(basename "$LOOP")/dev") " "$BLKIO/$TESTROOT/$1/blkio.bfq.weight_device" | awk '{print $2}'
}

if [ "$MODE" = smoke ]; then
  say "Smoke: one guest boots, is found by libvirt:, pidfile:, pid: and cgroup:, gets its weight"
  start_guest 0 vm0 "" ""
  wait_ready 120
  "$BIN" guests --cgroup-root "$TESTROOT" | tee "$WORK/guests.txt"
  grep -q "vm0" "$WORK/guests.txt" || fail "rtvirtio guests does not list vm0"
  PID=$(cat "$WORK/vm0.pid")
  n=0
  for match in "{libvirt: vm0}" "{pidfile: '$WORK/vm0.pid'}" "{pid: $PID}" "{cgroup: '$(scope 1 vm0)'}"; do
    n=$((n + 1))
    cat > "$WORK/t$n.yaml" <<YAML
device: $LOOP
guests:
  - {name: vm0, match: $match, weight: $((100 + n * 100)), tasks: [{name: a, iops: 100, targetMs: 100}]}
YAML
    "$BIN" apply --targets "$WORK/t$n.yaml" --state-dir "$WORK/state" --cgroup-root "$TESTROOT" >/dev/null
    got=$(weight_of "$(scope 1 vm0)")
    [ "$got" = $((100 + n * 100)) ] || fail "match $match: weight $got, wanted $((100 + n * 100))"
    echo "match $match → weight $got written to $(scope 1 vm0)"
    "$BIN" restore --state-dir "$WORK/state" >/dev/null
  done
  [ -z "$(weight_of "$(scope 1 vm0)")" ] || fail "restore left a weight line"

  say "Guest-side bfq knobs through the QEMU guest agent"
  cat > "$WORK/agent.yaml" <<YAML
device: $LOOP
guests:
  - name: vm0
    match: {libvirt: vm0}
    guestBfq: {timeoutSyncMs: 64, sliceIdleMs: 0}
    guestAgent: {socket: '$WORK/vm0.qga', disk: vda}
    tasks: [{name: a, iops: 100, targetMs: 100}]
YAML
  inside() { # path inside the guest → its current value, as rtvirtio reads it through the agent
    "$BIN" apply --dry-run --format json --targets "$WORK/agent.yaml" --state-dir "$WORK/state" --cgroup-root "$TESTROOT" \
      | jq -r --arg p "vm0:$1" '[.changes[] | select(.path | startswith($p))][0].current // "unchanged"'
  }
  before_sched=$(inside /sys/block/vda/queue/scheduler)
  "$BIN" apply --targets "$WORK/agent.yaml" --state-dir "$WORK/state" --cgroup-root "$TESTROOT" >/dev/null
  "$BIN" status --format json --state-dir "$WORK/state" > "$WORK/status.json" || fail "status after the agent apply: $(cat "$WORK/status.json")"
  for p in scheduler:bfq iosched/timeout_sync:64 iosched/slice_idle_us:0; do
    got=$(jq -r --arg p "vm0:/sys/block/vda/queue/${p%%:*}" '.values[] | select(.path | startswith($p)) | .current' "$WORK/status.json")
    [ "$got" = "${p#*:}" ] || fail "inside the guest ${p%%:*} is '$got', wanted '${p#*:}'"
    echo "inside vm0: /sys/block/vda/queue/${p%%:*} = $got (read back through the guest agent)"
  done
  "$BIN" restore --state-dir "$WORK/state" >/dev/null
  after_sched=$(inside /sys/block/vda/queue/scheduler)
  [ "$after_sched" = "$before_sched" ] || fail "restore left the guest's scheduler at '$after_sched', was '$before_sched'"
  echo "restore put the guest's scheduler back to '$after_sched'"
  echo "e2e smoke: PASSED"
  exit 0
fi

say "Three guests on one bfq queue: vm0 by libvirt:, vm1 by pidfile:, vm2 by cgroup:"
JOBS=("db:200" "web:150" "batch:100")
TARGETS=(25 50 200)
GAP=10
START=$(( $(date +%s) + 45 ))
PHASES="defaults@$START,apply@$(( START + RUNTIME + GAP )),daemon@$(( START + 2 * (RUNTIME + GAP) ))"
for i in 0 1 2; do start_guest "$i" "${GUESTS[$i]}" "${JOBS[$i]}" "$PHASES"; done
wait_ready 44
cat > "$WORK/targets.yaml" <<YAML
device: $LOOP
model: $MODEL
search: {hostTimeoutSyncMs: [32, 64, 124], hostSliceIdleMs: [0, 1, 2, 4, 6, 8]}
guests:
  - {name: vm0, criticality: 1, match: {libvirt: vm0}, tasks: [{name: db, iops: 200, targetMs: ${TARGETS[0]}}],
     guestBfq: {timeoutSyncMs: 124, sliceIdleMs: 0}, guestAgent: {socket: '$WORK/vm0.qga'}}
  - {name: vm1, criticality: 2, match: {pidfile: '$WORK/vm1.pid'}, tasks: [{name: web, iops: 150, targetMs: ${TARGETS[1]}}]}
  - {name: vm2, criticality: 3, match: {cgroup: '$(scope 3 vm2)'}, tasks: [{name: batch, iops: 100, targetMs: ${TARGETS[2]}}]}
YAML
"$BIN" guests --cgroup-root "$TESTROOT"

until_time() { while [ "$(date +%s)" -lt "$1" ]; do sleep 0.5; done; }
phase_done() { local name; for name in "${GUESTS[@]}"; do
  until grep -q "RTV-END $1" "$WORK/$name.log"; do sleep 0.5; [ "$(date +%s)" -lt "$2" ] || fail "$name did not finish phase $1"; done; done; }

say "Phase 1: kernel defaults (bfq, weights 100, timeout_sync 124, slice_idle 8) for $RUNTIME s"
phase_done defaults $(( START + RUNTIME + GAP ))
say "rtvirtio apply"
"$BIN" apply --targets "$WORK/targets.yaml" --state-dir "$WORK/state" --cgroup-root "$TESTROOT"
say "Phase 2: after apply"
phase_done apply $(( START + 2 * (RUNTIME + GAP) ))
"$BIN" restore --state-dir "$WORK/state"
say "Phase 3: under rtvirtio daemon (interval 1 s)"
"$BIN" daemon --targets "$WORK/targets.yaml" --state-dir "$WORK/state" --cgroup-root "$TESTROOT" --interval-s 1 2>"$WORK/daemon.log" &
DAEMON=$!
phase_done daemon $(( START + 3 * (RUNTIME + GAP) ))
kill -TERM "$DAEMON"; wait "$DAEMON" || fail "daemon exited non-zero: $(tail -3 "$WORK/daemon.log")"
DAEMON=""
[ ! -f "$WORK/state/journal.json" ] || "$BIN" status --state-dir "$WORK/state" || true
grep -q "\[bfq\]" "/sys/block/$(basename "$LOOP")/queue/scheduler" || fail "scheduler changed after restore"
[ "$(cat "/sys/block/$(basename "$LOOP")/queue/iosched/slice_idle")" = 8 ] || fail "slice_idle not restored"

say "p99.99 inside the guests (fio clat, ms) and achieved IOPS"
extract() { # guest phase → "p9999 iops" of its job
  awk -v p="$2" '$0 ~ "RTV-BEGIN "p {on=1; next} $0 ~ "RTV-END "p {on=0} on' "$WORK/$1.log" | tr -d '\r' \
    | jq -r '.jobs[0] | "\(.read.clat_ns.percentile["99.990000"] / 1e6 * 100 | round / 100) \(.read.iops | round)"'
}
printf '%-5s %-6s %9s %18s %18s %18s\n' guest task target "defaults" "after apply" "under daemon"
FAILS=0
for i in 0 1 2; do
  name=${GUESTS[$i]}; task=${JOBS[$i]%:*}
  row=()
  for p in defaults apply daemon; do
    read -r ms iops < <(extract "$name" "$p") || fail "no fio result for $name in phase $p"
    row+=("$ms ms @$iops")
  done
  printf '%-5s %-6s %6s ms %18s %18s %18s\n' "$name" "$task" "${TARGETS[$i]}" "${row[@]}"
done
echo "e2e: PASSED (host restored: scheduler bfq as set before phase 1, slice_idle 8)"
