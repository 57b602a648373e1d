#!/bin/sh
# Makes the base image the Dockerfiles start from (debian:bookworm-slim) where
# it is missing and no image registry answers: debootstrap --variant=minbase
# from the Debian mirror this machine's apt is configured with (read from
# /etc/apt/sources.list and /etc/apt/sources.list.d/; no host is written
# here), trimmed like the official slim image, then `docker import`. Needs a
# Docker engine that answers (scripts/docker-engine.sh) and root.
#
#   scripts/make-base-image.sh [IMAGE]        (default debian:bookworm-slim)
set -eu
image=${1:-${BASE_IMAGE:-debian:bookworm-slim}}
suite=bookworm

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
if timeout 30 docker pull "$image" >/dev/null 2>&1; then
  echo "make-base-image: pulled $image"
  exit 0
fi

# "URI SUITE COMPONENTS..." for every deb source, one-line and deb822 alike.
apt_sources() {
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { $1 = ""; print }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; comps = ""
        for (i = 1; i <= NF; i++) {
          line = $i; sub(/#.*/, "", line)
          if (line ~ /^Types:/) { sub(/^Types:[ \t]*/, "", line); types = line }
          else if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); uris = line }
          else if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = line }
          else if (line ~ /^Components:/) { sub(/^Components:[ \t]*/, "", line); comps = line }
        }
        if (types !~ /(^| )deb( |$)/) next
        n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
        for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) if (u[a] != "") print u[a], s[b], comps
      }' "$f"
  done
}

# The first source with SUITE and component main.
mirror_for() {
  apt_sources | awk -v suite="$1" '$2 == suite { for (i = 3; i <= NF; i++) if ($i == "main") { print $1; exit } }'
}

mirror=$(mirror_for "$suite")
if [ -z "$mirror" ]; then
  echo "make-base-image: no apt source for '$suite main' in /etc/apt/sources.list*" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

rootfs=$(mktemp -d /var/tmp/berth-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
start=$(date +%s)
echo "make-base-image: debootstrap $suite from $mirror"
keyring=""
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && keyring="--keyring=/usr/share/keyrings/debian-archive-keyring.gpg"
# shellcheck disable=SC2086
debootstrap --variant=minbase $keyring "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -n 30 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  exit 1
}
rm -f "$rootfs.log"

# The same sources inside: the main suite, its updates and security.
{
  echo "deb $mirror $suite main"
  updates=$(mirror_for "$suite-updates")
  [ -n "$updates" ] && echo "deb $updates $suite-updates main"
  security=$(mirror_for "$suite-security")
  [ -n "$security" ] && echo "deb $security $suite-security main"
} >"$rootfs/etc/apt/sources.list"

# As in Docker's official Debian images: packages installed during image
# builds do not start their services.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"

# Slim: no docs, man pages or translations from later installs; no caches.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
APT::Install-Recommends "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
Acquire::Languages "none";
EOF
find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/info/"* "$rootfs/usr/share/locale/"* \
  "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin "$rootfs/var/cache/apt/archives/"*.deb \
  "$rootfs/var/log/"*.log "$rootfs/tmp/"*

tar --numeric-owner -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$image" >/dev/null
echo "make-base-image: $image from $mirror in $(( $(date +%s) - start )) s," \
  "$(docker image inspect "$image" --format '{{.Size}}' | awk '{ printf "%.0f MB", $1 / 1e6 }')"
