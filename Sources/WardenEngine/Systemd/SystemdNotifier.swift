import CSystemd
import Foundation

/// `sd_notify` for the service manager: READY, STATUS, RELOADING, STOPPING, WATCHDOG.
/// Without `NOTIFY_SOCKET` (not started by systemd) every call is a no-op.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// Not started by systemd, libsystemd is never loaded: `sd_notify` would only find
    /// `NOTIFY_SOCKET` unset and return, after the dynamic loader had mapped it and the six
    /// libraries it needs (1.1 MB resident, in `make run`, a container, the benchmarks).
    public func send(_ assignments: String) {
        guard Self.isSet("NOTIFY_SOCKET") else { return }
        _ = assignments.withCString { warden_sd_notify(0, $0) }
    }

    public func ready(status: String) {
        send("READY=1\nSTATUS=\(Self.oneLine(status))")
    }

    public func status(_ text: String) {
        send("STATUS=\(Self.oneLine(text))")
    }

    /// `RELOADING=1` with the monotonic timestamp systemd 253+ wants; older ones ignore it.
    public func reloading() {
        send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())\nSTATUS=reloading the configuration")
    }

    /// `STOPPING=1`, asking for `extend` more time if the drain may outlast the stop timeout.
    public func stopping(extend: Duration?) {
        var message = "STOPPING=1\nSTATUS=stopping: finishing in-flight runs and flushing the history"
        if let extend { message += "\nEXTEND_TIMEOUT_USEC=\(extend.milliseconds * 1000)" }
        send(message)
    }

    public func watchdog() {
        send("WATCHDOG=1")
    }

    /// Half the watchdog interval systemd asked for (`WatchdogSec=`), or nil when it is off.
    public func watchdogPingInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard Self.isSet("WATCHDOG_USEC"), warden_sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }

    /// Read at each call, as `sd_notify` reads it (a test or a wrapper may set it late).
    static func isSet(_ variable: String) -> Bool {
        guard let value = getenv(variable) else { return false }
        return value.pointee != 0
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: " ")
    }
}
