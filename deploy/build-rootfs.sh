#!/bin/sh
# Runs in deploy/Dockerfile's builder stage. Builds berth (Release) — or takes
# deploy/prebuilt/berth, a binary built outside from the same sources — strips
# it, and lays out the runtime image in three trees, from the least to the
# most often changed:
#   OUT/base  /etc/passwd, /etc/group (uid/gid 65532), /etc/nsswitch.conf,
#             CA certificates, /tmp (1777), /models
#   OUT/lib   the dynamic loader and exactly the shared libraries ldd lists
#   OUT/bin   /usr/bin/berth
# Usage: build-rootfs.sh OUT   (JOBS=N for the compile)
set -eu
out=${1:?usage: build-rootfs.sh OUT}
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}

if [ -f "$src/deploy/prebuilt/berth" ]; then
  echo "build-rootfs: packaging the prebuilt binary (deploy/prebuilt/berth)"
  cp "$src/deploy/prebuilt/berth" /tmp/berth
else
  cmake -S "$src" -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBERTH_BUILD_TESTS=OFF \
    -DBERTH_GIT_REVISION="${REVISION:-unknown}"
  cmake --build /tmp/build --target berth -j "$jobs"
  cp /tmp/build/berth /tmp/berth
fi
strip --strip-all /tmp/berth
chmod 0755 /tmp/berth

# Every library must resolve here, in the same Debian the image is made from.
if ldd /tmp/berth | grep -q 'not found'; then
  ldd /tmp/berth >&2
  echo "build-rootfs: berth needs libraries this builder lacks" >&2
  exit 1
fi
/tmp/berth --version

rm -rf "$out"
mkdir -p "$out/base/etc/ssl/certs" "$out/base/tmp" "$out/base/models" "$out/lib" "$out/bin/usr/bin"

# base
cat > "$out/base/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
berth:x:65532:65532:berth:/tmp:/sbin/nologin
EOF
cat > "$out/base/etc/group" <<'EOF'
root:x:0:
berth:x:65532:
EOF
# /etc/hosts (which Docker and Kubernetes mount) before DNS.
printf 'hosts: files dns\n' > "$out/base/etc/nsswitch.conf"
cp /etc/ssl/certs/ca-certificates.crt "$out/base/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$out/base/etc/passwd" "$out/base/etc/group" "$out/base/etc/nsswitch.conf" \
  "$out/base/etc/ssl/certs/ca-certificates.crt"
chmod 1777 "$out/base/tmp"
chmod 0755 "$out/base/models"

# lib: "libX.so => /path (0x...)" lines and the loader's "/lib64/ld-linux... (0x...)".
ldd /tmp/berth | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
  while read -r lib; do
    mkdir -p "$out/lib$(dirname "$lib")"
    cp -L "$lib" "$out/lib$lib"
    strip --strip-unneeded "$out/lib$lib"
  done

# bin
cp /tmp/berth "$out/bin/usr/bin/berth"

echo "build-rootfs: $(du -sk "$out/lib" | cut -f1) KiB of libraries, $(du -k /tmp/berth | cut -f1) KiB berth"
find "$out/lib" -type f -printf '%s %p\n' | sort -n
