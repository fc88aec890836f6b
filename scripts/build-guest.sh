#!/usr/bin/env bash
# Builds Ferry's tiny test guest from Debian packages: an uncompressed kernel (vmlinux) and an
# initramfs (initrd.gz) of busybox-static, the virtio-net modules and scripts/guest/init.
# Nothing of it is committed; the lab and the QEMU tests build it at setup time.
#
# Usage: scripts/build-guest.sh [OUTDIR]      (default: .cache/guest in the repository)
#   FERRY_GUEST_KERNEL=6.1.0-56-amd64 picks a kernel version when several are installed.
#
# Why vmlinux and not the bzImage: QEMU enters an ELF vmlinux through PVH and skips the
# real-mode setup and the decompressor, which under TCG takes the guest from 9-10 s to ready
# down to about 4-5 s (see docs/qemu-lab.md).
#
# Idempotent: when OUTDIR/stamp matches the inputs (kernel version, busybox, scripts/guest/*)
# nothing is rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${1:-$repo/.cache/guest}

die() { echo "ferry build-guest: $*" >&2; exit 1; }

# Same policy as scripts/setup-system.sh: install what is missing as root on Debian, otherwise
# stop with the exact command.
need_packages() {
  [[ $# -eq 0 ]] && return 0
  if [[ $(id -u) -eq 0 && -f /etc/debian_version ]] && command -v apt-get >/dev/null; then
    echo "ferry build-guest: installing $*" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    die "missing Debian packages; run: sudo apt-get install -y $*"
  fi
}

# The virtio-net stack in load order (Debian builds it as modules; built-in ones are skipped).
modules=(failover net_failover virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_net)

find_kernel() {
  local v
  if [[ -n "${FERRY_GUEST_KERNEL:-}" ]]; then
    [[ -f /boot/vmlinuz-$FERRY_GUEST_KERNEL && -d /lib/modules/$FERRY_GUEST_KERNEL ]] || return 1
    echo "$FERRY_GUEST_KERNEL"; return 0
  fi
  # Newest Debian amd64 kernel that has both its image and its modules installed.
  for v in $(ls /boot 2>/dev/null | sed -n 's/^vmlinuz-\(.*-amd64\)$/\1/p' | sort -V -r); do
    [[ -f /lib/modules/$v/modules.dep ]] && { echo "$v"; return 0; }
  done
  return 1
}

missing=()
if ! dpkg -s busybox-static >/dev/null 2>&1; then missing+=(busybox-static); fi
command -v xz >/dev/null || missing+=(xz-utils)
command -v gzip >/dev/null || missing+=(gzip)
find_kernel >/dev/null || missing+=(linux-image-amd64)
need_packages "${missing[@]}"

kver=$(find_kernel) || die "no Debian kernel with modules found in /boot and /lib/modules; run: sudo apt-get install -y linux-image-amd64"
bzimage=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
busybox=/bin/busybox

# The stamp covers every input; equal stamp and both outputs present means up to date.
stamp=$( {
  echo "kernel $kver $(stat -c '%s %Y' "$bzimage")"
  echo "busybox $(stat -c '%s %Y' "$busybox")"
  cat "$here/build-guest.sh" "$here"/guest/*
} | sha256sum | cut -d' ' -f1)
if [[ -f $out/vmlinux && -f $out/initrd.gz && "$(cat "$out/stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "ferry build-guest: up to date in $out (kernel $kver)"
  exit 0
fi

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# (a) vmlinux: the approach of the kernel's scripts/extract-vmlinux. The bzImage carries the
# compressed kernel as one stream after the setup code; find each candidate stream magic,
# decompress from there and keep the first result that is an ELF file.
is_elf() { [[ "$(head -c4 "$1" | od -An -tx1 | tr -d ' \n')" == "7f454c46" ]]; }
try_stream() { # $1 = printf pattern of the magic, $2... = decompressor
  local magic=$1 off; shift
  command -v "$1" >/dev/null || return 1
  for off in $(LC_ALL=C grep -obUaP "$magic" "$bzimage" | cut -d: -f1); do
    tail -c "+$((off + 1))" "$bzimage" | "$@" > "$work/vmlinux" 2>/dev/null || true
    if [[ -s "$work/vmlinux" ]] && is_elf "$work/vmlinux"; then return 0; fi
  done
  return 1
}
try_stream '\xfd7zXZ\x00' xz -dcq \
  || try_stream '\x28\xb5\x2f\xfd' zstd -dcq \
  || try_stream '\x1f\x8b\x08' gzip -dcq \
  || die "could not find a compressed ELF kernel inside $bzimage (tried xz, zstd, gzip)"
mv "$work/vmlinux" "$out/vmlinux.tmp"

# (b) the initramfs: busybox with a link per applet, the modules, and the init scripts.
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,lib/modules}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
done
: > "$root/etc/ferry-modules"
for m in "${modules[@]}"; do
  rel=$(sed -n "s|^\(\([^:]*/\)\?$m\.ko\(\.[a-z]*\)\?\):.*|\1|p" "$moddir/modules.dep" | head -n1)
  if [[ -z "$rel" ]]; then
    if grep -q "/$m\.ko$" "$moddir/modules.builtin" 2>/dev/null; then continue; fi
    die "kernel $kver has module $m neither as a module nor built in"
  fi
  case "$rel" in
    *.ko) cp "$moddir/$rel" "$root/lib/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$moddir/$rel" > "$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -dcq "$moddir/$rel" > "$root/lib/modules/$m.ko" ;;
    *.ko.gz) gzip -dc "$moddir/$rel" > "$root/lib/modules/$m.ko" ;;
    *) die "unknown module compression for $moddir/$rel" ;;
  esac
  echo "$m" >> "$root/etc/ferry-modules"
done
install -m 0755 "$here/guest/init" "$root/init"
for f in "$here"/guest/*; do
  [[ "$(basename "$f")" == init ]] && continue
  install -m 0755 "$f" "$root/bin/$(basename "$f")"
done
echo "$kver" > "$root/etc/ferry-kernel"
(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9n > "$out/initrd.gz.tmp"

mv "$out/vmlinux.tmp" "$out/vmlinux"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
echo "$stamp" > "$out/stamp"
echo "ferry build-guest: built $out/vmlinux and $out/initrd.gz (kernel $kver, $(du -k "$out/initrd.gz" | cut -f1) KiB initramfs)"
