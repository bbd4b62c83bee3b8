/// The daemon's writer connection sized to its jobs. Once jobs have history, each run's
/// entry in `runs_by_job_time` lands on its job's own leaf page, and SQLite's defaults (a
/// checkpoint every 1,000 log pages, a 500-page cache) made that page cost a copy and a read
/// for every run: at 1,000 jobs 3.92 `pwrite`s and 2.13 `pread`s a run, sized 3.03 and 0.22
/// (BENCHMARKS.md, "The history run"). A small config keeps SQLite's log length.
struct WriterSizing: Equatable, Sendable {
    /// `PRAGMA wal_autocheckpoint`: log pages after which the log is copied back.
    let checkpointPages: Int
    /// `PRAGMA cache_size`, in pages.
    let cachePages: Int

    static let sqliteDefault = WriterSizing(checkpointPages: 1_000, cachePages: 500)
    /// 32 MiB of log: the file stays about this size while the daemon runs.
    static let longestLog = 8_192
    /// 16 MiB of cache: every job's page up to ~3,200 jobs.
    static let largestCache = 4_096

    init(checkpointPages: Int, cachePages: Int) {
        self.checkpointPages = checkpointPages
        self.cachePages = cachePages
    }

    init(jobs: Int) {
        // About five rounds of the jobs at ~1.5 log pages a run, so each job's leaf collects
        // several runs before it is copied (1,000 jobs: 8,000 pages; at SQLite's 1,000 a
        // checkpoint came every ~550 runs, nearly all on different leaves).
        checkpointPages = min(max(8 * jobs, Self.sqliteDefault.checkpointPages), Self.longestLog)
        // A job's leaf, its share of `job_state` and the tails of `runs`. A cache that
        // cannot hold every job's page saves nothing on jobs run in turn (the least recently
        // used page is always the next one needed), so past the bound the default stays:
        // 10,000 jobs' pages would cost ~50 MB.
        let wanted = Self.sqliteDefault.cachePages + jobs + jobs / 8
        cachePages = wanted <= Self.largestCache ? wanted : Self.sqliteDefault.cachePages
    }
}
