import CClockWatch
import Dispatch
import Foundation
import Logging
import Synchronization

/// Calls `onSet` on `queue` each time the wall clock is set (an NTP step, `date -s`, a
/// restored virtual machine), with about how far it moved. The scheduler's timers are
/// absolute wall-clock deadlines (libdispatch arms a `CLOCK_REALTIME` timerfd with
/// `TFD_TIMER_ABSTIME`, strace): after a step back the kernel holds them until the wall
/// catches up, so every job would wait as long as the step, unseen.
/// `@unchecked` only for the Dispatch source, whose cancel is thread-safe.
final class WallClockWatch: @unchecked Sendable {
    private let source: any DispatchSourceRead

    /// nil, logged, when the kernel refuses the timerfd.
    init?(queue: DispatchQueue, logger: Logger, onSet: @escaping @Sendable (_ step: TimeInterval) -> Void) {
        let fd = warden_clock_watch_open()
        guard fd >= 0 else {
            logger.warning("cannot watch the wall clock for steps (timerfd: \(Self.describe(fd))); after a step back, jobs wait until the clock catches up")
            return nil
        }
        // Wall minus monotonic time: how far a set moved the wall clock is how far this moved.
        let offset = Mutex(Self.wallAheadOfMonotonic())
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [weak self] in
            let consumed = warden_clock_watch_consume(fd)
            if consumed < 0 {
                // A descriptor that stays readable would call this again at once, forever.
                logger.warning("stopped watching the wall clock for steps (timerfd: \(Self.describe(consumed))); after a step back, jobs wait until the clock catches up")
                self?.cancel()
                return
            }
            guard consumed == 1 else { return }
            let now = Self.wallAheadOfMonotonic()
            let step = offset.withLock { last in
                defer { last = now }
                return now - last
            }
            onSet(step)
        }
        source.setCancelHandler { close(fd) }
        source.activate()
    }

    deinit {
        source.cancel()
    }

    func cancel() {
        source.cancel()
    }

    private static func describe(_ negativeErrno: Int32) -> String {
        String(cString: strerror(-negativeErrno))
    }

    private static func wallAheadOfMonotonic() -> TimeInterval {
        var wall = timespec()
        var monotonic = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        clock_gettime(CLOCK_MONOTONIC, &monotonic)
        return TimeInterval(wall.tv_sec - monotonic.tv_sec) + TimeInterval(wall.tv_nsec - monotonic.tv_nsec) / 1e9
    }
}
