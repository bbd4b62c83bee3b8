#include "CAllocatorSettings.h"

// Read by jemalloc, which the release build links in (the Makefile's ALLOCATOR_FLAGS), at its
// first allocation; the debug build runs on glibc's malloc and never reads it. One arena: the
// daemon's few threads allocate through their own caches (tcache) and an arena per CPU (8
// here) held 3 MB more at 1,000 checks for no measured gain; cached sizes up to 4 KB, the
// size of a task's async-frame slabs and an HTTP reply's buffers (BENCHMARKS.md).
const char *malloc_conf = "narenas:1,tcache_max:4096";
