import Foundation

/// The time source for runs and retries. Production uses the system clock; tests inject a
/// clock that records the waits a retry policy asks for and returns at once.
public protocol RunClock: Sendable {
    func now() -> Date
    /// Sleeps, or throws `CancellationError` when the run is cancelled (shutdown).
    func sleep(for duration: Duration) async throws
}

public struct SystemRunClock: RunClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}
