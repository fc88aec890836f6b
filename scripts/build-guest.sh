#!/usr/bin/env bash
# Builds Ferry's tiny test guest from Debian packages: an uncompressed kernel (vmlinux) and an
# initramfs (initrd.gz) of busybox-static, the virtio-net and virtio-blk modules and
# scripts/guest/*; and from the same initramfs a bootable CD image (boot.iso) whose isolinux
# starts Debian's bzImage: the guest that boots through firmware (SeaBIOS) like any VM a user
# brings, with no -kernel/-append from Ferry. Nothing of it is committed; the lab and the QEMU
# tests build it at setup time.
#
# Usage: scripts/build-guest.sh [OUTDIR]      (default: .cache/guest in the repository)
#   FERRY_GUEST_KERNEL=6.1.0-56-amd64 picks a kernel version when several are installed.
#
# Why vmlinux and not the bzImage: QEMU enters an ELF vmlinux through PVH and skips the
# real-mode setup and the decompressor, which under TCG takes the guest from 9-10 s to ready
# down to about 4-5 s (see docs/qemu-lab.md).
#
# Idempotent: when OUTDIR/stamp matches the inputs (kernel version, busybox, isolinux,
# scripts/guest/*) and all three outputs exist, nothing is rebuilt.
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

# The virtio-net stack in load order, then virtio-blk for the records disk (Debian builds them
# as modules; built-in ones are skipped). Dependencies missing from this list are added ahead of
# their users from modules.dep, so a kernel that splits a module further still loads in order.
modules=(failover net_failover virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_net virtio_blk)
# isolinux (ISOLINUX's El Torito loader and its ldlinux.c32 core module) from Debian's packages.
isolinux_bin=/usr/lib/ISOLINUX/isolinux.bin
ldlinux_c32=/usr/lib/syslinux/modules/bios/ldlinux.c32

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
[[ -f $isolinux_bin ]] || missing+=(isolinux)
[[ -f $ldlinux_c32 ]] || missing+=(syslinux-common)
command -v xorriso >/dev/null || missing+=(xorriso)
need_packages "${missing[@]}"

kver=$(find_kernel) || die "no Debian kernel with modules found in /boot and /lib/modules; run: sudo apt-get install -y linux-image-amd64"
bzimage=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
busybox=/bin/busybox

# The stamp covers every input; equal stamp and both outputs present means up to date.
stamp=$( {
  echo "kernel $kver $(stat -c '%s %Y' "$bzimage")"
  echo "busybox $(stat -c '%s %Y' "$busybox")"
  echo "isolinux $(stat -c '%s %Y' "$isolinux_bin" "$ldlinux_c32" | tr '\n' ' ')"
  cat "$here/build-guest.sh" "$here"/guest/*
} | sha256sum | cut -d' ' -f1)
if [[ -f $out/vmlinux && -f $out/initrd.gz && -f $out/boot.iso && "$(cat "$out/stamp" 2>/dev/null)" == "$stamp" ]]; then
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
# add_module NAME: copies NAME's .ko (decompressed) after the modules it needs, and appends it to
# /etc/ferry-modules, the init's insmod order. A module built into the kernel is skipped.
declare -A added=()
add_module() {
  local m=$1 line rel dep
  [[ -n "${added[$m]:-}" ]] && return 0
  added[$m]=1
  line=$(grep -E "^([^:]*/)?$m\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n1 || true)
  if [[ -z "$line" ]]; then
    if grep -qE "/$m\.ko$" "$moddir/modules.builtin" 2>/dev/null; then return 0; fi
    die "kernel $kver has module $m neither as a module nor built in"
  fi
  rel=${line%%:*}
  for dep in ${line#*:}; do
    dep=${dep##*/}
    add_module "${dep%%.ko*}"
  done
  case "$rel" in
    *.ko) cp "$moddir/$rel" "$root/lib/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$moddir/$rel" > "$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -dcq "$moddir/$rel" > "$root/lib/modules/$m.ko" ;;
    *.ko.gz) gzip -dc "$moddir/$rel" > "$root/lib/modules/$m.ko" ;;
    *) die "unknown module compression for $moddir/$rel" ;;
  esac
  echo "$m" >> "$root/etc/ferry-modules"
}
: > "$root/etc/ferry-modules"
for m in "${modules[@]}"; do add_module "$m"; done
install -m 0755 "$here/guest/init" "$root/init"
for f in "$here"/guest/*; do
  case "$(basename "$f")" in
    init) ;;
    # busybox udhcpc runs this to apply a lease (the init passes it with -s).
    udhcpc.script) install -m 0755 "$f" "$root/etc/udhcpc.script" ;;
    *) install -m 0755 "$f" "$root/bin/$(basename "$f")" ;;
  esac
done
echo "$kver" > "$root/etc/ferry-kernel"
(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9n > "$out/initrd.gz.tmp"

# (c) boot.iso: an El Torito CD whose isolinux boots the bzImage with the same initramfs. The
# command line is fixed here, as on any installed system: no ferry.ip=, so the init asks DHCP.
# "timeout 1" (a tenth of a second) and no prompt: the firmware path is slow enough under TCG.
iso=$work/iso
mkdir -p "$iso/isolinux"
cp "$isolinux_bin" "$ldlinux_c32" "$iso/isolinux/"
cp "$bzimage" "$iso/isolinux/vmlinuz"
cp "$out/initrd.gz.tmp" "$iso/isolinux/initrd.gz"
cat > "$iso/isolinux/isolinux.cfg" <<'CFG'
default ferry
prompt 0
timeout 1
label ferry
  kernel vmlinuz
  append initrd=initrd.gz console=ttyS0 panic=-1 quiet ferry.boot=iso
CFG
xorriso -as mkisofs -quiet -o "$out/boot.iso.tmp" -V FERRY_GUEST -J -r \
  -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
  "$iso" 2>"$work/xorriso.log" || die "xorriso could not write boot.iso: $(tail -n1 "$work/xorriso.log")"

mv "$out/vmlinux.tmp" "$out/vmlinux"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
mv "$out/boot.iso.tmp" "$out/boot.iso"
echo "$stamp" > "$out/stamp"
echo "ferry build-guest: built $out/vmlinux, $out/initrd.gz and $out/boot.iso (kernel $kver, $(du -k "$out/initrd.gz" | cut -f1) KiB initramfs, $(du -k "$out/boot.iso" | cut -f1) KiB ISO)"
