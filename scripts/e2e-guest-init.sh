#!/bin/busybox sh
# /init of the e2e guests' initramfs (busybox, fio, the virtio and bfq modules).
# Kernel command line:
#   rtv.jobs=NAME:IOPS[,NAME:IOPS...]   one fio job per task, 4 KiB random reads of /dev/vda
#   rtv.runtime=S                       seconds per phase
#   rtv.phases=NAME@EPOCH[,...]         start each phase at that wall-clock second (host time via the RTC)
# Prints RTV-READY, then per phase "RTV-BEGIN NAME", fio's JSON, "RTV-END NAME"; powers off after the last.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk virtio_console bfq; do
  insmod /lib/modules/$m.ko 2>/dev/null
done
mkdir -p /tmp /run
# the QEMU guest agent on each agent channel the VM has (no udev here: find the ports by name):
# org.qemu.guest_agent.0 is libvirt's own, org.rtvirtio.guest_agent.0 one for rtvirtio
i=0; while [ -z "$(ls /sys/class/virtio-ports 2>/dev/null)" ] && [ $i -lt 30 ]; do usleep 100000; i=$((i + 1)); done
for port in /sys/class/virtio-ports/*; do
  case "$(cat "$port/name" 2>/dev/null)" in
    org.qemu.guest_agent.0|org.rtvirtio.guest_agent.0)
      mkdir -p "/tmp/${port##*/}"; qemu-ga -m virtio-serial -p "/dev/${port##*/}" -t "/tmp/${port##*/}" -f "/tmp/${port##*/}.pid" & ;;
  esac
done
JOBS=""; RUNTIME=10; PHASES=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    rtv.jobs=*) JOBS=${arg#rtv.jobs=} ;;
    rtv.runtime=*) RUNTIME=${arg#rtv.runtime=} ;;
    rtv.phases=*) PHASES=${arg#rtv.phases=} ;;
  esac
done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
echo "RTV-READY $(date +%s) $(cat /sys/block/vda/size 2>/dev/null) sectors, scheduler $(cat /sys/block/vda/queue/scheduler 2>/dev/null)"
for phase in $(echo "$PHASES" | tr , ' '); do
  name=${phase%@*}; start=${phase#*@}
  while [ "$(date +%s)" -lt "$start" ]; do usleep 100000; done
  args=""
  for job in $(echo "$JOBS" | tr , ' '); do
    args="$args --name=${job%:*} --filename=/dev/vda --rw=randread --bs=4k --direct=1 --ioengine=psync --rate_iops=${job#*:} --time_based --runtime=$RUNTIME --percentile_list=50:99:99.99"
  done
  echo "RTV-BEGIN $name"
  fio --output-format=json $args
  echo "RTV-END $name"
done
[ -n "$PHASES" ] && poweroff -f
while true; do sleep 3600; done
