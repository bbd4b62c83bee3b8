#!/bin/sh
# The release binary carries SQLite and libstdc++ (see the Makefile's STATIC_FLAGS).
#   static-libs.sh DIR          links DIR/libsqlite3.a and DIR/libstdc++.a to the archives the
#                               toolchain's clang finds (libsqlite3-dev, libstdc++-12-dev)
#   static-libs.sh --check BIN  fails if BIN still loads either shared library: a toolchain
#                               that reorders the link's search directories would otherwise
#                               ship the slower binary without a word
set -eu
libraries="libsqlite3 libstdc++"

if [ "$1" = --check ]; then
    needed=$(readelf -d "$2" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    for library in $libraries; do
        if echo "$needed" | grep -q "^$library\.so"; then
            echo "static-libs: $2 loads $library.so at run time instead of carrying it;" \
                "check that the Makefile's STATIC_FLAGS reach the link ahead of the system's library directories" >&2
            exit 1
        fi
    done
    exit 0
fi

directory=$1
mkdir -p "$directory"
for library in $libraries; do
    archive=$(clang -print-file-name="$library.a")
    if [ ! -f "$archive" ]; then
        echo "static-libs: $library.a not found; install it: apt-get install libsqlite3-dev libstdc++-12-dev" >&2
        exit 1
    fi
    ln -sf "$archive" "$directory/$library.a"
done
