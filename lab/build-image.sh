#!/usr/bin/env bash
# `make lab-image`: build local/icsaudit-lab without any container registry (container-offline.md).
# 1. base image: reuse $BASE_IMAGE, else debootstrap bookworm from the host's apt mirror and import it;
# 2. wheels: icsaudit's own wheel plus icsaudit[lab] and all its dependencies, built or downloaded
#    on the host into the build context (sdist-only packages such as python-nmap become wheels here);
# 3. `docker build --network none`: nothing inside the build reaches any network.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-/usr/bin/docker}   # Debian's CLI; another one may come first in PATH
BASE_IMAGE=${BASE_IMAGE:-local/debian-py:bookworm}
IMAGE=${IMAGE:-local/icsaudit-lab:latest}
PY=${PY:-.venv/bin/python}
SUITE=${SUITE:-bookworm}

"$DOCKER" info >/dev/null 2>&1 || {
  echo "build-image: dockerd is not reachable through $DOCKER" >&2
  echo "  start it with: dockerd --bridge=none --iptables=false --ip6tables=false &" >&2
  exit 1
}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "build-image: apt-get install debootstrap" >&2; exit 1; }
  mirror=$(apt-get indextargets --format '$(REPO_URI)' "Release: $SUITE" 'Identifier: Packages' | head -1)
  echo "build-image: debootstrap $SUITE from ${mirror:-deb.debian.org} -> $BASE_IMAGE"
  rootfs="$ctx/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$ctx/debootstrap.log" 2>&1 \
    || { tail -20 "$ctx/debootstrap.log" >&2; exit 1; }
  # Trimmed: no .debs, apt lists, docs, man pages, locales, or the host's resolv.conf/hostname.
  tar -C "$rootfs" --exclude=./var/cache/apt --exclude=./var/lib/apt/lists --exclude=./usr/share/doc \
      --exclude=./usr/share/man --exclude=./usr/share/locale --exclude=./etc/resolv.conf \
      --exclude=./etc/hostname -c . | "$DOCKER" import -c 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi

# Wheels built by the host's interpreter must match the image's (compiled extensions, tags).
want=$("$DOCKER" run --rm --network none --entrypoint python3 "$BASE_IMAGE" \
  -c 'import sys; print("%d.%d" % sys.version_info[:2])')
have=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [[ "$want" != "$have" ]]; then
  echo "build-image: $BASE_IMAGE has Python $want but $PY is $have; set PY to a python$want" >&2
  exit 1
fi
mkdir -p "$ctx/wheels"
"$PY" -m pip wheel -q --no-deps -w "$ctx/wheels" .
"$PY" -m pip wheel -q -w "$ctx/wheels" "$(ls "$ctx"/wheels/icsaudit-*.whl)[lab]"
cp lab/Dockerfile "$ctx/"
"$DOCKER" build -q --network none --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$ctx" >/dev/null
"$DOCKER" image prune -f >/dev/null   # the legacy builder leaves the build stage dangling
echo "built $IMAGE ($("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
