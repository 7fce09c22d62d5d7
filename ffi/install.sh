#!/usr/bin/env bash
# Installs libcoord for C programs:
#   cargo build -p coord-ffi [--release]
#   ffi/install.sh PREFIX [debug|dev|release]      (default profile: debug)
# then:  cc prog.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs coord)
# Layout (VERSION is the crate version, MAJOR its first number):
#   PREFIX/lib/libcoord.so.VERSION      the shared library, soname libcoord.so.MAJOR
#   PREFIX/lib/libcoord.so.MAJOR        -> libcoord.so.VERSION (what programs load)
#   PREFIX/lib/libcoord.so              -> libcoord.so.MAJOR (what -lcoord finds)
#   PREFIX/lib/libcoord.a               the static library
#   PREFIX/include/coord.h              the header
#   PREFIX/lib/pkgconfig/coord.pc       relocatable: paths derive from ${pcfiledir}
# The tree can be moved or tarred (ffi/package.sh does) after install.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:?usage: ffi/install.sh PREFIX [debug|dev|release]}"
profile="${2:-debug}"
case "$profile" in
  dev|debug) profile=debug ;;
  release) ;;
  *) echo "ffi/install.sh: unknown profile '$profile' (debug, dev or release)" >&2; exit 2 ;;
esac
libdir_src="${CARGO_TARGET_DIR:-$root/target}/$profile"
for f in libcoord.so libcoord.a; do
  [ -f "$libdir_src/$f" ] || { echo "missing $libdir_src/$f: run cargo build -p coord-ffi$([ "$profile" = release ] && echo ' --release') first" >&2; exit 1; }
done
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)"
major="${version%%.*}"
soname="$(readelf -d "$libdir_src/libcoord.so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')"
if [ "$soname" != "libcoord.so.$major" ]; then
  echo "$libdir_src/libcoord.so has soname '${soname:-none}', expected libcoord.so.$major: rebuild coord-ffi (ffi/build.rs sets it)" >&2
  exit 1
fi
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$libdir_src/libcoord.so" "$prefix/lib/libcoord.so.$version"
ln -sfn "libcoord.so.$version" "$prefix/lib/libcoord.so.$major"
ln -sfn "libcoord.so.$major" "$prefix/lib/libcoord.so"
install -m 0644 "$libdir_src/libcoord.a" "$prefix/lib/"
install -m 0644 "$root/include/coord.h" "$prefix/include/"
cat > "$prefix/lib/pkgconfig/coord.pc" <<'PC'
prefix=${pcfiledir}/../..
libdir=${prefix}/lib
includedir=${prefix}/include

Name: coord
Description: libcoord, the C client of the coord coordination service
PC
cat >> "$prefix/lib/pkgconfig/coord.pc" <<PC
Version: $version
PC
cat >> "$prefix/lib/pkgconfig/coord.pc" <<'PC'
Cflags: -I${includedir}
Libs: -L${libdir} -Wl,-rpath,${libdir} -lcoord
Libs.private: -lpthread -ldl -lm
PC
echo "installed libcoord $version ($profile) into $prefix"
