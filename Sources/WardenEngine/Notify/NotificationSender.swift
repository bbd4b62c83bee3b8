import AsyncHTTPClient
import Foundation
import Logging
import Synchronization
import WardenPluginKit

/// Delivers the outbox: one loop per notifier, in order (the oldest pending event first),
/// each retried with tenacity's `wait_random_exponential` (1 s up to 5 min) until delivered
/// or older than `maxAge` (then `expired`). A slow or dead notifier holds up only its own
/// queue; the scheduler never waits for any of them.
public final class NotificationSender: Sendable {
    /// An event not delivered within this is given up and recorded as expired.
    public static let maxAge = Duration.seconds(24 * 3600)
    static let longestWait = Duration.seconds(300)
    static let idlePoll = Duration.milliseconds(500)

    private let store: HistoryStore
    private let transport: NotificationTransport
    private let logger: Logger
    private let notifiers: Mutex<[String: NotifierDefinition]>
    private let database = BlockingQueue(label: "warden.notify-outbox")
    private let metrics: WardenMetrics?

    public init(store: HistoryStore, httpClient: HTTPClient, notifiers: [NotifierDefinition], runCommand: CommandRunner? = nil, metrics: WardenMetrics? = nil, logger: Logger) {
        self.store = store
        self.metrics = metrics
        self.transport = NotificationTransport(httpClient: httpClient, runCommand: runCommand)
        self.logger = logger
        self.notifiers = Mutex(Dictionary(notifiers.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last }))
    }

    /// A reload: new notifiers start delivering, removed ones stop (their pending events wait).
    public func update(_ definitions: [NotifierDefinition]) {
        notifiers.withLock { $0 = Dictionary(definitions.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last }) }
    }

    /// Runs until cancelled: a child task per configured notifier.
    public func run() async {
        await withDiscardingTaskGroup { group in
            var running = Set<String>()
            while !Task.isCancelled {
                let names = Set(notifiers.withLock { $0.keys })
                for name in names.subtracting(running) {
                    running.insert(name)
                    group.addTask { await self.deliverLoop(name) }
                }
                running.formIntersection(names)
                do { try await Task.sleep(for: .seconds(1)) } catch { break }
            }
            group.cancelAll()
        }
    }

    private func deliverLoop(_ name: String) async {
        let store = self.store
        while !Task.isCancelled {
            guard let notifier = notifiers.withLock({ $0[name] }) else { return }
            let entry: OutboxEntry?
            do {
                entry = try await database.run { try store.nextPending(notifier: name) }
            } catch {
                logger.error("cannot read the notification outbox", metadata: ["notifier": .string(name), "error": "\(HistoryStore.describe(error))"])
                entry = nil
            }
            guard let entry else {
                try? await Task.sleep(for: Self.idlePoll)
                continue
            }
            let now = Date()
            if now.timeIntervalSince(entry.createdAt) > Self.maxAge.seconds {
                _ = try? await database.run { try store.markExpired(entry.id, at: now) }
                metrics?.notification(notifier: name, outcome: "expired")
                logger.error("notification expired undelivered after \(Self.maxAge.wardenFormatted)", metadata: [
                    "notifier": .string(name), "event": .string(entry.event.kind.rawValue), "outbox_id": "\(entry.id)",
                    "attempts": "\(entry.attempts)", "error": .string(entry.lastError ?? ""),
                ])
                continue
            }
            if entry.nextAttemptAt > now {
                try? await Task.sleep(for: .milliseconds(min(Int64(entry.nextAttemptAt.timeIntervalSince(now) * 1000), 1_000)))
                continue
            }
            do {
                let answer = try await transport.deliver(entry.event, via: notifier)
                try await database.run { try store.markDelivered(entry.id, answer: answer, at: Date()) }
                metrics?.notification(notifier: name, outcome: "delivered")
                logger.info("notification delivered: \(entry.event.title)", metadata: [
                    "notifier": .string(name), "event": .string(entry.event.kind.rawValue), "outbox_id": "\(entry.id)",
                    "message_id": .string(entry.event.kind.messageID),
                ])
            } catch let failure as NotificationTransport.DeliveryError {
                metrics?.notification(notifier: name, outcome: "failed")
                let wait = Self.redelivery.waitAfter(attempt: entry.attempts + 1)
                _ = try? await database.run { try store.markFailed(entry.id, error: failure.description, retryAt: Date().addingTimeInterval(wait.seconds)) }
                logger.warning("notification not delivered; retrying in \(wait.wardenFormatted)", metadata: [
                    "notifier": .string(name), "event": .string(entry.event.kind.rawValue), "outbox_id": "\(entry.id)",
                    "attempt": "\(entry.attempts + 1)", "error": .string(failure.description),
                ])
            } catch {
                // The outbox itself refused the update: the entry is tried again.
                logger.error("cannot record a notification delivery", metadata: ["notifier": .string(name), "error": "\(HistoryStore.describe(error))"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// tenacity's `wait_random_exponential(multiplier=2, min=0.25, max=300)`, the retry wait
    /// jobs use: uniform in [250 ms, min(300 s, 2^attempt s)].
    static let redelivery = RetryPolicy(wait: .randomExponential, multiplier: .seconds(2), minimum: .milliseconds(250), maximum: longestWait)

    /// `warden notify test`: one delivery now, not through the outbox.
    public static func test(_ notifier: NotifierDefinition, httpClient: HTTPClient, runCommand: CommandRunner? = nil) async -> Result<String, NotificationTransport.DeliveryError> {
        let event = NotificationEvent(kind: .test, message: "a test notification from `warden notify test \(notifier.name)`", at: Date())
        do {
            return .success(try await NotificationTransport(httpClient: httpClient, runCommand: runCommand).deliver(event, via: notifier))
        } catch {
            return .failure(error)
        }
    }
}
