#!/bin/sh
# Builds the Debian package from a build tree and checks what it holds (no root needed).
# Usage: check_package.sh BUILD_DIR [ALLOCATOR]   (mimalloc: the binary must be linked with it)
set -eu
build=$1
allocator=${2:-glibc}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out" >/dev/null
deb=$(ls "$out"/*.deb)
contents=$(dpkg-deb -c "$deb")
info=$(dpkg-deb -I "$deb")
fail() { echo "package check failed: $1" >&2; exit 1; }
for path in ./usr/bin/aipassport ./usr/lib/systemd/system/aipassport.service ./etc/aipassport/config.toml \
            ./usr/share/doc/aipassport/README.md; do
  echo "$contents" | grep -q " $path\$" || fail "no $path"
done
echo "$contents" | grep -q "rwxr-xr-x .* ./usr/bin/aipassport\$" || fail "the binary is not executable"
echo "$info" | grep -q "Package: aipassport" || fail "package name"
echo "$info" | grep -q "Depends:.*libsodium" || fail "no Depends on libsodium"
echo "$info" | grep -q "Depends:.*libpq5" || fail "no Depends on libpq5 (loaded when the store is PostgreSQL)"
if [ "$allocator" = mimalloc ]; then
  echo "$info" | grep -q "Depends:.*libmimalloc" || fail "the broker is not linked with mimalloc"
fi
for script in postinst prerm postrm conffiles; do
  echo "$info" | grep -qE "lines +\*? +$script( |$)" || fail "no $script"
done
dir=$out/x
mkdir "$dir"
dpkg-deb -e "$deb" "$dir/DEBIAN"
grep -q "adduser --system --group" "$dir/DEBIAN/postinst" || fail "postinst makes no user"
grep -q "/etc/aipassport/config.toml" "$dir/DEBIAN/conffiles" || fail "the config is not a conffile"
dpkg-deb -x "$deb" "$dir/root"
unit=$dir/root/usr/lib/systemd/system/aipassport.service
for line in "User=aipassport" "ProtectSystem=strict" "NoNewPrivileges=yes" "StateDirectory=aipassport" \
            "ReadWritePaths=/var/lib/aipassport"; do
  grep -qx "$line" "$unit" || fail "unit lacks $line"
done
grep -q -- "--data-dir /var/lib/aipassport" "$unit" || fail "the unit does not use the state directory"
"$dir/root/usr/bin/aipassport" --version >/dev/null || fail "the packaged binary does not run"
echo "package ok: $(basename "$deb")"
