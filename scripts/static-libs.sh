#!/bin/sh
# The release binary carries SQLite, libstdc++ and jemalloc (the Makefile's STATIC_FLAGS and
# ALLOCATOR_FLAGS).
#   static-libs.sh DIR          links DIR/libsqlite3.a, DIR/libstdc++.a and DIR/libjemalloc.a to
#                               the archives the toolchain's clang finds (libsqlite3-dev,
#                               libstdc++-12-dev, libjemalloc-dev)
#   static-libs.sh --check BIN  fails if BIN still loads SQLite's or libstdc++'s shared library,
#                               or does not define and export malloc and free: a toolchain that
#                               reorders the link's search directories, or drops the exports,
#                               would otherwise ship the slower binary (or one whose libraries
#                               free through another allocator) without a word
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
    # jemalloc's malloc and free defined by BIN itself and exported (nothing else defines them).
    symbols=$(readelf --dyn-syms --wide "$2")
    for symbol in malloc free; do
        if ! echo "$symbols" | awk -v s="$symbol" '$8 == s && $7 != "UND" { found = 1 } END { exit !found }'; then
            echo "static-libs: $2 does not export its own $symbol (jemalloc's): check the Makefile's ALLOCATOR_FLAGS" >&2
            exit 1
        fi
    done
    exit 0
fi

directory=$1
mkdir -p "$directory"
for library in $libraries libjemalloc; do
    archive=$(clang -print-file-name="$library.a")
    if [ ! -f "$archive" ]; then
        echo "static-libs: $library.a not found; install it: apt-get install libsqlite3-dev libstdc++-12-dev libjemalloc-dev" >&2
        exit 1
    fi
    ln -sf "$archive" "$directory/$library.a"
done

# jemalloc as one object, not an archive: Swift's static-stdlib link hides every archive's
# symbols (--exclude-libs ALL), and malloc must stay exported for the libraries to use it.
# Its C++ operators are left out (operator new reaches its malloc through libstdc++'s).
if [ "$directory/jemalloc.o" -ot "$directory/libjemalloc.a" ] || [ ! -f "$directory/jemalloc.o" ]; then
    members=$(mktemp -d)
    (cd "$members" && ar x "$(clang -print-file-name=libjemalloc.a)" && rm -f jemalloc_cpp.o)
    ld.lld -r -o "$directory/jemalloc.o" "$members"/*.o
    rm -rf "$members"
fi
