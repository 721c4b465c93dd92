#!/usr/bin/env bash
# `make lab-image`: build local/icsaudit-lab without any container registry (container-offline.md).
# 1. base image: reuse $BASE_IMAGE, else debootstrap bookworm from the host's apt mirror and import it;
# 2. wheels: `pip download` icsaudit[lab] and its dependencies on the host into the build context;
# 3. `docker build --network none`.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-/usr/bin/docker}
BASE_IMAGE=${BASE_IMAGE:-local/debian-py:bookworm}
PY=${PY:-.venv/bin/python}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Release: bookworm' 'Identifier: Packages' | head -1)
  rootfs="$ctx/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}"
  tar -C "$rootfs" --exclude=./var/cache/apt --exclude=./var/lib/apt/lists --exclude=./usr/share/doc \
      --exclude=./usr/share/man --exclude=./usr/share/locale --exclude=./etc/resolv.conf \
      --exclude=./etc/hostname -c . | "$DOCKER" import -c 'ENV LANG=C.UTF-8' - "$BASE_IMAGE"
  rm -rf "$rootfs"
fi
mkdir -p "$ctx/wheels"
"$PY" -m pip wheel -q --no-deps -w "$ctx/wheels" .
"$PY" -m pip download -q -d "$ctx/wheels" --python-version 3.11 --only-binary=:all: \
  "$(ls "$ctx"/wheels/icsaudit-*.whl)[lab]" 2>/dev/null || "$PY" -m pip download -q -d "$ctx/wheels" "$(ls "$ctx"/wheels/icsaudit-*.whl)[lab]"
cp lab/Dockerfile "$ctx/"
"$DOCKER" build --network none --build-arg BASE_IMAGE="$BASE_IMAGE" -t local/icsaudit-lab:latest "$ctx"
"$DOCKER" image prune -f >/dev/null
echo "built local/icsaudit-lab:latest"
