#!/bin/bash
# The guest kernel the QEMU tests boot: Debian's cloud kernel, fetched once with
# apt-get download and unpacked into DIR (default .build/guest-kernel):
#   DIR/vmlinuz, DIR/modules/NAME.ko for the modules the guests load, DIR/qemu-ga.
# Prints DIR. Rebuilt only when this script changes; a failed fetch is never reused.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/.build/guest-kernel}
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk virtio_console bfq loop"
key="$(sha256sum "$0" | cut -c1-16)"
if [ -s "$DIR/vmlinuz" ] && [ "$(cat "$DIR/key" 2>/dev/null)" = "$key" ]; then echo "$DIR"; exit 0; fi
tmp=$DIR.tmp
rm -rf "$tmp" "$DIR" && mkdir -p "$tmp/deb" "$tmp/modules"
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$pkg" ] || { apt-get update -qq; pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
[ -n "$pkg" ] || { echo "guest-kernel: apt knows no linux-image-cloud-amd64, even after apt-get update" >&2; exit 1; }
(cd "$tmp/deb" && { apt-get download "$pkg" qemu-guest-agent >/dev/null 2>&1 \
   || { apt-get update -qq && apt-get download "$pkg" qemu-guest-agent >/dev/null 2>&1; }; }) \
  || { echo "guest-kernel: apt-get download $pkg qemu-guest-agent failed" >&2; exit 1; }
dpkg -x "$tmp"/deb/linux-image-*.deb "$tmp/kernel"
dpkg -x "$tmp"/deb/qemu-guest-agent_*.deb "$tmp/qga"
cp "$tmp"/kernel/boot/vmlinuz-* "$tmp/vmlinuz"
cp "$tmp/qga/usr/sbin/qemu-ga" "$tmp/qemu-ga"
for m in $MODULES; do
  ko=$(find "$tmp/kernel/lib/modules" -name "$m.ko*" | head -1)
  [ -n "$ko" ] || { echo "guest-kernel: module $m not in $pkg" >&2; exit 1; }
  case "$ko" in
    *.xz) xz -dc "$ko" > "$tmp/modules/$m.ko" ;;
    *.zst) zstd -qdc "$ko" > "$tmp/modules/$m.ko" ;;
    *) cp "$ko" "$tmp/modules/$m.ko" ;;
  esac
done
echo "$pkg" > "$tmp/package"
rm -rf "$tmp/deb" "$tmp/kernel" "$tmp/qga"
echo "$key" > "$tmp/key"
mv "$tmp" "$DIR"
echo "$DIR"
