import GRDB
import Synchronization

/// Jobs whose alert the writer's connection knows to be ok, so that an ok run of one skips
/// reading its alert state back (about 4,000 instructions a run, callgrind): an ok run never
/// moves an alert that is ok. Only while no other connection has committed: a manual run
/// written by the CLI may have made the alert failing. SQLite's `data_version` tells, and the
/// set then starts over.
struct QuietAlerts: Sendable {
    var jobs: Set<String> = []
    fileprivate var dataVersion: Int64
    /// Which transaction took it out.
    fileprivate var lease: Int
}

/// The writer's `QuietAlerts` between transactions.
final class QuietAlertsCache: Sendable {
    private struct Slot {
        var kept: QuietAlerts?
        var leases = 0
    }

    private let slot = Mutex(Slot())

    /// What is still known at the start of a write transaction (which holds the write lock,
    /// so no other connection commits until it ends). Taken out, not copied: the transaction
    /// adds to it in place, and `keep` puts it back once committed.
    func current(in db: Database) throws -> QuietAlerts {
        let version = try Int64.fetchOne(db, sql: "PRAGMA data_version") ?? 0
        return slot.withLock { slot in
            slot.leases += 1
            guard var known = slot.kept.take(), known.dataVersion == version else {
                return QuietAlerts(dataVersion: version, lease: slot.leases)
            }
            known.lease = slot.leases
            return known
        }
    }

    /// After a commit: what the transaction left, unless a later transaction has begun since
    /// (its own commit may have made one of these jobs fail).
    func keep(_ quiet: QuietAlerts) {
        slot.withLock { slot in
            if slot.leases == quiet.lease { slot.kept = quiet }
        }
    }

    /// After a rollback, or when the connection is replaced.
    func forget() {
        slot.withLock { $0.kept = nil }
    }
}
