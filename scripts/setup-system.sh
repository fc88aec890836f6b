#!/usr/bin/env bash
# Makes sure the Debian packages listed in scripts/system-packages.txt are installed.
# As root on Debian it installs what is missing with apt-get; otherwise it stops with the
# exact command to run. Idempotent: a machine that has everything is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
missing=()
while read -r pkg probe _why; do
  [[ -z "${pkg:-}" || "$pkg" == \#* ]] && continue
  if [[ "$probe" == /* ]]; then [[ -e "$probe" ]] && continue
  else command -v "$probe" >/dev/null 2>&1 && continue; fi
  dpkg -s "$pkg" >/dev/null 2>&1 && [[ "$probe" == "-" ]] && continue
  missing+=("$pkg")
done < "$here/system-packages.txt"

if [[ ${#missing[@]} -eq 0 ]]; then exit 0; fi
if [[ $(id -u) -eq 0 && -f /etc/debian_version ]] && command -v apt-get >/dev/null; then
  echo "ferry setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "ferry setup: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
