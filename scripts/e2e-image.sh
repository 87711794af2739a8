#!/bin/bash
# The e2e guests' boot files, built once into DIR (default .build/e2e):
#   DIR/vmlinuz     Debian's cloud kernel (scripts/guest-kernel.sh)
#   DIR/initrd.gz   busybox + fio + qemu-ga, with scripts/e2e-guest-init.sh as /init
# Prints DIR. Rebuilt when the guest side or the kernel changes; a failed build is never reused.
# The tests themselves are Swift (Tests/RTVirtIOHostTests/E2E*.swift): they define and start the
# guests as real libvirt domains and check what the guests report.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/.build/e2e}
kernel=$("$ROOT/scripts/guest-kernel.sh") || { echo "e2e-image: the guest kernel could not be fetched" >&2; exit 1; }
key="v4 $(sha256sum "$ROOT/scripts/e2e-guest-init.sh" "$0" | cut -c1-16 | tr '\n' ' ')$(cat "$kernel/key")"
if [ -s "$DIR/initrd.gz" ] && [ "$(cat "$DIR/key" 2>/dev/null)" = "$key" ]; then echo "$DIR"; exit 0; fi
for tool in /bin/busybox /usr/bin/fio /usr/bin/cpio; do
  [ -x "$tool" ] || { echo "e2e-image: $tool is missing (make test and make e2e install busybox-static, fio, cpio)" >&2; exit 1; }
done
echo "e2e-image: building a busybox + fio + qemu-ga initramfs for $(cat "$kernel/package")" >&2
tmp=$DIR.tmp
rm -rf "$tmp" && mkdir -p "$tmp/rootfs"
r=$tmp/rootfs
mkdir -p "$r"/{bin,dev,proc,sys,lib/modules}
cp /bin/busybox "$r/bin/busybox"
cp /usr/bin/fio "$r/bin/fio"
cp "$kernel/qemu-ga" "$r/bin/qemu-ga"
for lib in $(ldd /usr/bin/fio "$r/bin/qemu-ga" | awk '/=>/{print $3} /ld-linux/{print $1}' | sort -u); do
  mkdir -p "$r$(dirname "$lib")" && cp -L "$lib" "$r$lib"
done
cp "$kernel"/modules/*.ko "$r/lib/modules/"
cp "$ROOT/scripts/e2e-guest-init.sh" "$r/init" && chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1 > "$tmp/initrd.gz")
cp "$kernel/vmlinuz" "$tmp/vmlinuz"
rm -rf "$r"
echo "$key" > "$tmp/key"
rm -rf "$DIR" && mv "$tmp" "$DIR"
echo "$DIR"
