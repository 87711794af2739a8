#!/bin/bash
# make test-v2: rtvirtio on cgroup v2 for real, inside a QEMU guest that plays the KVM
# host (this machine mounts blkio as v1 and cannot switch). The guest boots Debian's
# cloud kernel (scripts/guest-kernel.sh) with the unified hierarchy only, a bfq disk
# /dev/vdb, and an initramfs holding BIN with its shared libraries, fio and busybox;
# its /init (scripts/v2-guest-init.sh) runs plan, apply, status, restore, SIGKILL
# mid-apply, the daemon, observe and a weights-with-idling fio, and writes what it
# read back from its kernel to the serial console. This script prints those RTV-
# lines; the assertions are made in Swift (Tests/RTVirtIOHostTests/CgroupV2GuestTests).
#   scripts/v2-guest.sh BIN [TESTS FILTER]      (TCG, about a minute; 3 with the suites). The host is not touched.
# With TESTS (the SwiftPM test binary, rtvirtioPackageTests.xctest) and FILTER, the guest then
# runs the host's live suites that FILTER names on its cgroup v2, one at a time, over loop
# devices on a scratch ext4 disk (its tmpfs has no O_DIRECT), and prints their output as
# RTV-LIVE lines. V2_GUEST_ONLY_LIVE=1 skips the rtvirtio steps and runs only the suites.
set -euo pipefail
BIN=${1:?usage: v2-guest.sh /path/to/rtvirtio [/path/to/rtvirtioPackageTests.xctest FILTER]}
TESTS=${2:-}
FILTER=${3:-}
[ -z "$TESTS" ] || [ -n "$FILTER" ] || { echo "v2-guest: TESTS needs a FILTER (the suites to run)" >&2; exit 2; }
# with the suites: more memory for the test binary, a scratch disk for their loop devices, more time
if [ -n "$TESTS" ]; then MEMORY_MB=2048 SCRATCH=512M TIMEOUT_S=1200; else MEMORY_MB=1024 SCRATCH=16M TIMEOUT_S=600; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/rtvirtio-v2-guest.XXXXXX)
QEMU_PID=""
cleanup() {
  [ -n "$QEMU_PID" ] && kill -KILL "$QEMU_PID" 2>/dev/null
  if [ -n "${V2_GUEST_KEEP:-}" ]; then echo "v2-guest: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "v2-guest: FAILED: $*" >&2; exit 1; }

for tool in qemu-system-x86_64 busybox fio cpio ${TESTS:+losetup flock mkfs.ext4}; do command -v "$tool" >/dev/null || fail "$tool is missing (make test installs it)"; done
kernel=$("$ROOT/scripts/guest-kernel.sh") || fail "the guest kernel could not be fetched"

# --- the initramfs: busybox, fio, rtvirtio and their libraries, the modules, the targets
r=$WORK/rootfs
mkdir -p "$r"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$(command -v busybox)" "$r/bin/busybox"
cp "$(command -v fio)" "$r/bin/fio"
cp "$BIN" "$r/bin/rtvirtio"
if [ -n "$TESTS" ]; then
  # the suites find rtvirtio where they were built, and it its models beside it (the checkout's
  # config/models); fio where rtvirtio looks for it; losetup and flock (busybox has no flock)
  mkdir -p "$r/tests" "$r/sbin" "$r/usr/bin" "$r$ROOT/.build/debug" "$r$ROOT/config"
  cp "$TESTS" "$r/tests/rtvirtio-tests"
  mv "$r/bin/rtvirtio" "$r$ROOT/.build/debug/rtvirtio" && ln -s "$ROOT/.build/debug/rtvirtio" "$r/bin/rtvirtio"
  cp -r "$ROOT/config/models" "$r$ROOT/config/models"
  ln -s /bin/fio "$r/usr/bin/fio"
  cp "$(command -v losetup)" "$(command -v flock)" "$r/sbin/"
  # bash and a sleep that keeps the name exec -a gives it (busybox's dispatches on it): the guests' stand-ins
  cp "$(command -v bash)" "$(command -v sleep)" "$r/bin/"
fi
for lib in $(ldd "$(command -v fio)" "$BIN" ${TESTS:+"$TESTS" "$(command -v losetup)" "$(command -v flock)" "$(command -v bash)"} | awk '/=>/{print $3} /ld-linux/{print $1}' | sort -u); do
  mkdir -p "$r$(dirname "$lib")" && cp -L "$lib" "$r$lib"
done
cp "$kernel"/modules/*.ko "$r/lib/modules/"
cp "$ROOT/config/models/analytical-paper.yaml" "$r/analytical-paper.yaml"
cat > "$r/t.yaml" <<'YAML'
device: /dev/vdb
model: analytical
modelParams: /analytical-paper.yaml
capacity: {readIops: 300}
guests:
  - {name: vm0, criticality: 1, match: {cgroup: vm0}, tasks: [{name: t, iops: 250, targetMs: 50}]}
  - {name: vm1, criticality: 2, match: {cgroup: vm1}, tasks: [{name: t, iops: 250, targetMs: 500}]}
YAML
cat > "$r/weights.yaml" <<'YAML'
device: /dev/vdb
model: analytical
modelParams: /analytical-paper.yaml
search: {hostTimeoutSyncMs: [124], hostSliceIdleMs: [8]}
guests:
  - {name: vm0, criticality: 1, weight: 800, match: {cgroup: vm0}, tasks: [{name: t, iops: 100, targetMs: 1000}]}
  - {name: vm1, criticality: 2, weight: 100, match: {cgroup: vm1}, tasks: [{name: t, iops: 100, targetMs: 1000}]}
YAML
[ -z "$TESTS" ] || printf '%s\n' "$FILTER" > "$r/live-filter"
cp "$ROOT/scripts/v2-guest-init.sh" "$r/init" && chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1 > "$WORK/initrd.gz")
rm -rf "$r"

# --- the guest: two disks (vda: scratch for the suites' loop devices, vdb the shared device), the unified hierarchy only
truncate -s "$SCRATCH" "$WORK/vda.img"
[ -z "$TESTS" ] || mkfs.ext4 -q -F "$WORK/vda.img"
dd if=/dev/urandom of="$WORK/vdb.img" bs=1M count=128 status=none
echo "v2-guest: booting $(cat "$kernel/package") with cgroup v2 only (TCG)…" >&2
qemu-system-x86_64 -accel tcg -m "$MEMORY_MB" -smp 2 -nographic -no-reboot -display none -monitor none \
  -kernel "$kernel/vmlinuz" -initrd "$WORK/initrd.gz" \
  -append "console=ttyS0 quiet loglevel=1 panic=-1 systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all${V2_GUEST_ONLY_LIVE:+ rtv.only_live}" \
  -drive "file=$WORK/vda.img,format=raw,if=virtio,cache=none" \
  -drive "file=$WORK/vdb.img,format=raw,if=virtio,cache=none" \
  -serial "file:$WORK/serial.log" >"$WORK/qemu.log" 2>&1 &
QEMU_PID=$!
timeout_s=${V2_GUEST_TIMEOUT_S:-$TIMEOUT_S}
deadline=$(( $(date +%s) + timeout_s ))
until grep -q RTV-DONE "$WORK/serial.log" 2>/dev/null; do
  kill -0 "$QEMU_PID" 2>/dev/null || fail "the guest stopped early: $(tail -5 "$WORK/serial.log" 2>/dev/null | tr -d '\r'; cat "$WORK/qemu.log")"
  [ "$(date +%s)" -lt "$deadline" ] || fail "no RTV-DONE within $timeout_s s: $(tail -5 "$WORK/serial.log" | tr -d '\r')"
  sleep 1
done
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=""
tr -d '\r' < "$WORK/serial.log" | grep -ao 'RTV-[A-Z]*\( .*\)\?$'
