import CSystemd
import Foundation
import Logging
import Synchronization

/// A swift-log handler writing to journald through its native protocol (`sd_journal_sendv`:
/// Swift cannot call the variadic `sd_journal_send`). Metadata become fields:
/// `job` → `WARDEN_JOB`, `run_id` → `WARDEN_RUN_ID`, …, and `message_id` → `MESSAGE_ID`.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    private var levelOverride: Logger.Level?
    private let control: LogLevelControl
    public var logLevel: Logger.Level {
        get { levelOverride ?? control.level }
        set { levelOverride = newValue }
    }
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, level: LogLevelControl) {
        self.label = label
        self.control = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = Logger.Metadata.merging(metadata, metadataProvider, event.metadata)
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=warden",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        for (key, value) in merged {
            if key == "message_id" {
                fields.append("MESSAGE_ID=\(value)")
            } else if let name = Self.fieldName(key) {
                fields.append("\(name)=\(value)")
            }
        }
        Self.send(fields)
    }

    /// syslog priorities: debug 7 … critical 2.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// `run_id` → `WARDEN_RUN_ID`: journal field names are uppercase letters, digits and `_`.
    static func fieldName(_ key: String) -> String? {
        let cleaned = String(key.uppercased().map { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII ? $0 : "_" })
        guard !cleaned.isEmpty else { return nil }
        return String(("WARDEN_" + cleaned).prefix(64))
    }

    static func send(_ fields: [String]) {
        let buffers = fields.map { Array($0.utf8) }
        var vectors: [iovec] = []
        vectors.reserveCapacity(buffers.count)
        func build(_ index: Int) {
            guard index < buffers.count else {
                _ = warden_sd_journal_sendv(vectors, Int32(vectors.count))
                return
            }
            buffers[index].withUnsafeBytes { bytes in
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count))
                build(index + 1)
            }
        }
        build(0)
    }
}

/// Readable `key=value` lines on stderr, one per event: for a terminal or a plain log file.
public struct LogfmtHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    private var levelOverride: Logger.Level?
    private let control: LogLevelControl
    public var logLevel: Logger.Level {
        get { levelOverride ?? control.level }
        set { levelOverride = newValue }
    }
    public var metadataProvider: Logger.MetadataProvider?

    public init(level: LogLevelControl) {
        self.control = level
    }

    public init(level: Logger.Level) {
        self.init(level: LogLevelControl(level))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = Logger.Metadata.merging(metadata, metadataProvider, event.metadata)
        var line = "time=\(ISOTime.string(Date())) level=\(event.level.rawValue) msg=\(Self.quote(event.message.description))"
        for key in merged.keys.sorted() where key != "message_id" {
            line += " \(key)=\(Self.quote(merged[key]!.description))"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func quote(_ text: String) -> String {
        guard text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }
}

/// Where the daemon's log goes.
public enum LogTarget: String, Sendable, CaseIterable {
    /// The journal when stderr is connected to it (`JOURNAL_STREAM` names stderr), else stderr.
    case auto
    case journal
    case stderr

    /// The target `auto` resolves to in this process.
    public func resolved(environment: [String: String] = ProcessInfo.processInfo.environment) -> LogTarget {
        guard self == .auto else { return self }
        guard let stream = environment["JOURNAL_STREAM"] else { return .stderr }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return .stderr }
        return stream == "\(status.st_dev):\(status.st_ino)" ? .journal : .stderr
    }

    public func makeHandler(level: Logger.Level) -> any LogHandler {
        makeHandler(level: LogLevelControl(level))
    }

    public func makeHandler(level: LogLevelControl) -> any LogHandler {
        switch resolved() {
        case .journal: return JournalLogHandler(label: "warden", level: level)
        default: return LogfmtHandler(level: level)
        }
    }
}

/// The daemon's log level, shared by every logger its handlers made, so that a reload's
/// `daemon.log_level` takes effect at once (a logger that set its own level keeps it).
public final class LogLevelControl: Sendable {
    private let value: Mutex<Logger.Level>

    public init(_ level: Logger.Level) {
        value = Mutex(level)
    }

    public var level: Logger.Level {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

extension Logger.Metadata {
    /// The handler's metadata, then the provider's, then the call's: later ones win.
    static func merging(_ handler: Logger.Metadata, _ provider: Logger.MetadataProvider?, _ call: Logger.Metadata?) -> Logger.Metadata {
        var merged = handler
        if let provided = provider?.get() { merged.merge(provided) { _, new in new } }
        if let call { merged.merge(call) { _, new in new } }
        return merged
    }
}
