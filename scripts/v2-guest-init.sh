#!/bin/busybox sh
# /init of the cgroup v2 test guest (scripts/v2-guest.sh): a KVM host in miniature
# with the unified hierarchy only, rtvirtio, fio, and a bfq disk /dev/vdb.
# Everything it finds goes out on the serial console as lines the host parses:
#   RTV-FILE <label> <path> <base64 of the file, or "-" when absent>
#   RTV-OUT <label> <exit status> <base64 of the command's stdout>
#   RTV-LIVE <a line of the host's live suites' output> (when the image holds them)
#   RTV-DONE
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# no tmpfs on /tmp: the checkout may live under /tmp (a CI clone), and the suites find rtvirtio there
mkdir -p /run /var/lib/rtvirtio
# Foundation's Process learns of a child's exit through a CFSocket pair: without loopback it never does
ifconfig lo 127.0.0.1 up
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk bfq loop; do
  insmod /lib/modules/$m.ko 2>/dev/null
done
mount -t cgroup2 none /sys/fs/cgroup || echo "RTV-OUT mount-cgroup2 1 -"
i=0; while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
D=/sys/block/vdb
R=/sys/fs/cgroup/rtvirtio-v2
mkdir -p $R/vm0 $R/vm1
HOSTARGS="--state-dir /var/lib/rtvirtio --cgroup-root rtvirtio-v2"

b64() { base64 -w0 2>/dev/null || base64 | tr -d '\n'; }
snapshot() {
  for f in /sys/fs/cgroup/cgroup.subtree_control $R/cgroup.subtree_control $R/vm0/io.bfq.weight $R/vm1/io.bfq.weight \
           $R/vm0/io.max $R/vm1/io.max $D/queue/scheduler $D/queue/iosched/slice_idle_us $D/queue/iosched/timeout_sync; do
    if [ -e "$f" ]; then printf 'RTV-FILE %s %s %s\n' "$1" "$f" "$(cat "$f" | b64)"; else printf 'RTV-FILE %s %s -\n' "$1" "$f"; fi
  done
}
run() { # label command...: its stdout and status
  label=$1; shift
  out=$("$@" 2>/tmp/err); status=$?
  printf 'RTV-OUT %s %s %s\n' "$label" "$status" "$(printf '%s' "$out" | b64)"
  [ -s /tmp/err ] && printf 'RTV-OUT %s.stderr 0 %s\n' "$label" "$(b64 < /tmp/err)"
}
load() { # cgroup iops seconds [name]: fio reading vdb from inside the cgroup, in the background
  sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$R/$1" fio --name="${4:-$1}" --filename=/dev/vdb --rw=randread --bs=4k \
    --direct=1 --ioengine=psync ${2:+--rate_iops=$2} --time_based --runtime="$3" --eta=never --output-format=json --output="/tmp/fio-${4:-$1}.json" &
}

echo "RTV-READY $(uname -r) $(cat $D/dev) btf=$([ -e /sys/kernel/btf/vmlinux ] && echo yes || echo no)"
if ! grep -qw rtv.only_live /proc/cmdline; then
echo bfq > $D/queue/scheduler
snapshot before

# 1. plan, apply, status, restore — every value read back from this kernel
run plan rtvirtio plan --targets /t.yaml --format json
run apply rtvirtio apply --targets /t.yaml $HOSTARGS
snapshot applied
run status rtvirtio status --targets /t.yaml $HOSTARGS
run restore rtvirtio restore --state-dir /var/lib/rtvirtio
snapshot restored

# 2. SIGKILL after the k-th write of an apply, then restore: the host exactly as before
for k in 1 2 3 4 5 6 7 8; do
  RTVIRTIO_TEST_KILL_AFTER_WRITE=$k rtvirtio apply --targets /t.yaml $HOSTARGS >/dev/null 2>&1
  echo "RTV-OUT kill$k-apply $? -"
  run kill$k-restore rtvirtio restore --state-dir /var/lib/rtvirtio
  snapshot kill$k
done

# 3. the daemon samples io.stat: a 200 IOPS load in vm0
load vm0 200 9
# closed loop where the kernel has BTF: before its first apply enables io, it must say the guests measure nothing
rtvirtio daemon --targets /t.yaml $HOSTARGS --interval-s 1 $([ -e /sys/kernel/btf/vmlinux ] || echo --open-loop) --metrics-textfile /tmp/metrics.prom >/tmp/daemon.log 2>&1 &
DAEMON=$!
sleep 7
kill -TERM $DAEMON; wait $DAEMON
printf 'RTV-FILE daemon /tmp/metrics.prom %s\n' "$(b64 < /tmp/metrics.prom)"
printf 'RTV-FILE daemon /tmp/daemon.log %s\n' "$(b64 < /tmp/daemon.log)"
wait

# 5. weights have force on v2 with idling: 800 against 100, both reading as fast as they can
run apply-weights rtvirtio apply --targets /weights.yaml $HOSTARGS
snapshot weights

# 4. the kernel observer (eBPF), where this kernel has BTF. On v2 a request is charged to
# a guest's cgroup only once io is enabled in its parents' subtree_control (apply did that).
if [ -e /sys/kernel/btf/vmlinux ]; then
  load vm0 100 6 observe-vm0; load vm1 50 6 observe-vm1
  run observe rtvirtio observe --targets /t.yaml $HOSTARGS --duration-s 4 --format json
  wait
fi
load vm0 "" 6; load vm1 "" 6
wait
for g in vm0 vm1; do printf 'RTV-FILE force /tmp/fio-%s.json %s\n' $g "$(b64 < /tmp/fio-$g.json)"; done
run restore-weights rtvirtio restore --state-dir /var/lib/rtvirtio
snapshot end
fi

# 6. the host's live suites, on this kernel's cgroup v2, one at a time (they share the root's
# subtree_control); their loop devices' files on ext4 (this kernel's tmpfs has no O_DIRECT)
if [ -x /tests/rtvirtio-tests ]; then
  mkdir -p /scratch && mount -t ext4 /dev/vda /scratch || echo "RTV-LIVE cannot mount the scratch disk /dev/vda"
  TMPDIR=/scratch/ HOME=/scratch PATH=/bin:/sbin NO_COLOR=1 /tests/rtvirtio-tests --testing-library swift-testing \
    --no-parallel --filter "$(cat /live-filter)" >/scratch/live.log 2>&1
  echo "RTV-OUT live $? -"
  sed 's/^/RTV-LIVE /' /scratch/live.log
fi

echo RTV-DONE
poweroff -f
