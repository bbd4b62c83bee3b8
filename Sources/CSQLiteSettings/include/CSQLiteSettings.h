#ifndef WARDEN_CSQLITESETTINGS_H
#define WARDEN_CSQLITESETTINGS_H
// Process-wide SQLite settings that only the variadic sqlite3_config can make, which Swift
// cannot call. Each must run before SQLite initialises (before the first connection opens);
// later it changes nothing and returns SQLITE_MISUSE (21).

// Stops SQLite's memory statistics: kept, they take a process-wide mutex around every
// malloc and free SQLite makes, about 28 lock pairs per stored run (callgrind, BENCHMARKS.md).
// Warden reads none of them (no soft heap limit, no sqlite3_memory_used).
int warden_sqlite_stop_memory_statistics(void);

#endif
