#!/bin/sh
# CTest libmidge_install: installs the build into a scratch prefix, then checks what a user of the library gets:
# libmidge.so.0 exporting only midge_* symbols, the headers and midge.pc, and examples/pub.c and sub.c building
# with `cc FILE $(pkg-config --cflags --libs midge)` and running against the installed library.
# Usage: check-install.sh SOURCE_DIR BUILD_DIR CC [EXTRA_CFLAGS]
set -eu
src=$1 build=$2 cc=$3 extra=${4:-}
stage=$(mktemp -d "${TMPDIR:-/tmp}/midge-install.XXXXXX")
trap 'rm -rf "$stage"' EXIT
fail() { echo "check-install: $*" >&2; exit 1; }

# DESTDIR stages under $stage while the installed files name the prefix itself, as a package build does.
DESTDIR="$stage/dest" cmake --install "$build" --prefix /opt/midge >/dev/null
root="$stage/dest/opt/midge"
for f in lib/libmidge.so lib/libmidge.so.0 lib/libmidge.so.0.1.0 lib/libmidge.a lib/pkgconfig/midge.pc \
	include/midge/midge.h include/midge/mqtt.h include/midge/client.h; do
	[ -e "$root/$f" ] || fail "$f not installed"
done
soname=$(objdump -p "$root/lib/libmidge.so" | awk '$1 == "SONAME" {print $2}')
[ "$soname" = libmidge.so.0 ] || fail "SONAME is '$soname'"
grep -q '^prefix=/opt/midge$' "$root/lib/pkgconfig/midge.pc" || fail "midge.pc does not name the prefix"
others=$(nm -D --defined-only "$root/lib/libmidge.so" | awk '{print $3}' | grep -v '^midge_' || true)
[ -z "$others" ] || fail "libmidge.so exports more than midge_*: $others"
nm -D --defined-only "$root/lib/libmidge.so" | grep -q ' midge_client_publish$' || fail "midge_client_publish not exported"

# pkg-config reads the staged tree as its system root, as it would the installed one.
export PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage/dest"
flags=$(pkg-config --cflags --libs midge)
for ex in pub sub; do
	# shellcheck disable=SC2086
	"$cc" $extra "$src/examples/$ex.c" $flags -o "$stage/$ex" || fail "examples/$ex.c does not build with: $flags"
	# shellcheck disable=SC2086
	"$cc" -std=c17 -Wall -Wextra -Werror -Wshadow $extra -c "$src/examples/$ex.c" $(pkg-config --cflags midge) \
		-o "$stage/$ex.o" || fail "examples/$ex.c has warnings under -std=c17"
done
# Runs against the installed library: a refused connection is a clear error, not a hang.
port=1
out=$(LD_LIBRARY_PATH="$root/lib" timeout 20 "$stage/pub" "mqtt://127.0.0.1:$port" t m 2>&1) && fail "pub succeeded without a broker"
echo "$out" | grep -q "cannot connect" || fail "pub: unexpected output: $out"
LD_LIBRARY_PATH="$root/lib" timeout 20 "$stage/sub" 2>/dev/null && fail "sub without arguments succeeded"
echo "check-install: ok ($flags)"
