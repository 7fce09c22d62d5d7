#!/usr/bin/env bash
# Installs libcoord for C programs:
#   cargo build -p coord-ffi [--release]
#   ffi/install.sh PREFIX [debug|release]      (default profile: debug)
# then:  cc prog.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs coord)
# Copies libcoord.so and libcoord.a to PREFIX/lib, include/coord.h to
# PREFIX/include and writes PREFIX/lib/pkgconfig/coord.pc.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:?usage: ffi/install.sh PREFIX [debug|release]}"
profile="${2:-debug}"
libdir_src="${CARGO_TARGET_DIR:-$root/target}/$profile"
for f in libcoord.so libcoord.a; do
  [ -f "$libdir_src/$f" ] || { echo "missing $libdir_src/$f: run cargo build -p coord-ffi first" >&2; exit 1; }
done
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)"
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$libdir_src/libcoord.so" "$prefix/lib/"
install -m 0644 "$libdir_src/libcoord.a" "$prefix/lib/"
install -m 0644 "$root/include/coord.h" "$prefix/include/"
cat > "$prefix/lib/pkgconfig/coord.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: coord
Description: libcoord, the C client of the coord coordination service
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lcoord
Libs.private: -lpthread -ldl -lm
PC
echo "installed libcoord $version ($profile) into $prefix"
