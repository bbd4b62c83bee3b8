#ifndef WARDEN_ALLOCATOR_SETTINGS_H
#define WARDEN_ALLOCATOR_SETTINGS_H

/// jemalloc's options for the release build (see CAllocatorSettings.c).
extern const char *malloc_conf;

#endif
