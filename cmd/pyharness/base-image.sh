#!/usr/bin/env bash
# Builds a Python base image from Debian's packages, for machines that cannot
# pull from a registry, and prints its name. It reads the machine's own apt
# sources (mmdebstrap), imports the result (docker import), and does nothing
# when the image is already present. Use it as the worker image's base:
#   export PYHARNESS_BASE_IMAGE=$(pyharness base-image)
# PYHARNESS_BASE_PACKAGES (space- or comma-separated Debian packages) adds
# packages, host-side, for engines whose builds cannot reach the mirror;
# the tag then ends with a hash of the sorted list. Use that image with
# container.WithImage.
set -euo pipefail
extra=$(tr ', ' '\n\n' <<<"${PYHARNESS_BASE_PACKAGES:-}" | sed '/^$/d' | sort -u | paste -sd, -)
for p in ${extra//,/ }; do
  [[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || { echo "pyharness base-image: PYHARNESS_BASE_PACKAGES: $p is not a Debian package name" >&2; exit 2; }
done
tag=debian-$(. /etc/os-release && echo "$VERSION_CODENAME")
[ -z "$extra" ] || tag=$tag-$(printf '%s' "$extra" | sha256sum | cut -c1-12)
IMAGE=${PYHARNESS_BASE_IMAGE:-pyharness-python-base:$tag}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi
if ! command -v mmdebstrap >/dev/null; then
  echo "pyharness base-image: installing mmdebstrap" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap; } >&2
fi
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -s "$f" ] && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || { echo "pyharness base-image: no apt sources on this machine" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "pyharness base-image: building $IMAGE from $suite with ${sources[*]}${extra:+ (and $extra)}" >&2
mmdebstrap --variant=apt --include=python3,python3-numpy${extra:+,$extra} "$suite" "$tmp/base.tar" "${sources[@]}" >&2
docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$tmp/base.tar" "$IMAGE" >&2
echo "$IMAGE"
