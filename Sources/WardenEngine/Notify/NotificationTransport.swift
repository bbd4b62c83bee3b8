import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import WardenPluginKit

/// Delivers one event to one notifier. Returns what the receiver answered, or throws a
/// `DeliveryError` saying why it did not take it. Secrets never appear in either.
/// Runs a notification command with `input` on stdin; returns its exit status and output.
/// The daemon is given the contained runner custom plugins use (its own session, the whole
/// process group killed at the timeout); `ChildProcess.run` is the plain fallback.
public typealias CommandRunner = @Sendable (_ executable: String, _ arguments: [String], _ environment: [String: String], _ input: Data, _ timeout: Duration) async throws -> (status: Int32, output: String)

public struct NotificationTransport: Sendable {
    public struct DeliveryError: Error, CustomStringConvertible {
        public var description: String
    }

    let httpClient: HTTPClient
    let runCommand: CommandRunner
    static let timeout = Duration.seconds(10)

    init(httpClient: HTTPClient, runCommand: CommandRunner? = nil) {
        self.httpClient = httpClient
        self.runCommand = runCommand ?? ChildProcess.run
    }

    func deliver(_ event: NotificationEvent, via notifier: NotifierDefinition) async throws(DeliveryError) -> String {
        do {
            switch notifier.kind {
            case .webhook(let url, let headers, let secret):
                let body = Data(event.payload.jsonText().utf8)
                var all = headers
                if let secret {
                    let signature = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
                    all["X-Warden-Signature"] = "sha256=" + signature.map { String(format: "%02x", $0) }.joined()
                }
                all["X-Warden-Event"] = event.kind.rawValue
                return try await post(url, body: body, headers: all)
            case .slack(let url):
                let body: JSONValue = ["text": .string(Self.text(event, template: notifier.template))]
                return try await post(url, body: Data(body.jsonText().utf8), headers: [:])
            case .alertmanager(let url):
                let base = url.hasSuffix("/") ? String(url.dropLast()) : url
                let body = JSONValue.array([Self.alert(event)])
                return try await post(base + "/api/v2/alerts", body: Data(body.jsonText().utf8), headers: [:])
            case .email(let settings):
                return try await SMTPDelivery.send(event, text: Self.text(event, template: notifier.template), settings: settings, runCommand: runCommand)
            case .exec(let command, let arguments):
                return try await ExecDelivery.run(command, arguments: arguments, event: event, text: Self.text(event, template: notifier.template), runCommand: runCommand)
            }
        } catch let error as DeliveryError {
            throw Self.scrubbed(error, notifier)
        } catch {
            throw Self.scrubbed(DeliveryError(description: String(describing: error)), notifier)
        }
    }

    private static func scrubbed(_ error: DeliveryError, _ notifier: NotifierDefinition) -> DeliveryError {
        DeliveryError(description: error.description.redactingOccurrences(of: notifier.secretValues))
    }

    private func post(_ url: String, body: Data, headers: [String: String]) async throws -> String {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "warden/\(WardenVersion.current)")
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .seconds(Int64(Self.timeout.components.seconds)))
        } catch {
            // The URL may be a secret (a Slack webhook): say what happened, not where.
            throw DeliveryError(description: "no answer: \(Self.networkReason(error))")
        }
        var collected = try await response.body.collect(upTo: 64 << 10)
        let text = collected.readString(length: min(collected.readableBytes, 300)) ?? ""
        let answer = "HTTP \(response.status.code)\(text.isEmpty ? "" : ": " + text.trimmingCharacters(in: .whitespacesAndNewlines))"
        guard (200..<300).contains(response.status.code) else { throw DeliveryError(description: answer) }
        return answer
    }

    static func networkReason(_ error: any Error) -> String {
        let detail = String(describing: error)
        if detail.contains("connectionRefused") || detail.contains("Connection refused") { return "connection refused" }
        if let client = error as? HTTPClientError, [.deadlineExceeded, .connectTimeout, .readTimeout].contains(client) { return "timed out" }
        return String(detail.prefix(200))
    }

    /// The one line (and the message) people read: the notifier's `template`, or the default.
    static func text(_ event: NotificationEvent, template: String?) -> String {
        guard let template else { return event.title + (event.message.isEmpty ? "" : "\n" + event.message) }
        var text = template
        for (key, value) in event.payload.objectValue ?? [:] {
            let shown = value.stringValue ?? (value.isNull ? "" : value.jsonText())
            text = text.replacingOccurrences(of: "{{ \(key) }}", with: shown).replacingOccurrences(of: "{{\(key)}}", with: shown)
        }
        return text
    }

    /// Alertmanager's v2 alert: labels identify it (so a recovery resolves the same alert);
    /// a problem fires until a recovery sets `endsAt`.
    static func alert(_ event: NotificationEvent) -> JSONValue {
        let jobEvent = [.jobFailing, .severityChanged, .stillFailing, .jobRecovered].contains(event.kind)
        var labels: JSONObject = [
            "alertname": .string(jobEvent ? "WardenJobFailing" : "Warden" + event.kind.rawValue.split(separator: "_").map { $0.capitalized }.joined()),
            "instance": .string(event.host),
            "source": "warden",
        ]
        if let job = event.job { labels["job"] = .string(job) }
        if let rule = event.rule { labels["rule"] = .string(rule) }
        // The severity label must stay the same for one alert: a recovery carries the one it had.
        labels["severity"] = .string(event.severity?.rawValue ?? "info")
        // Firing alerts stay up for a day unless resolved; other events show for an hour.
        let ends = event.kind == .jobRecovered ? event.at : event.at.addingTimeInterval(jobEvent ? 86_400 : 3_600)
        return [
            "labels": .object(labels),
            "annotations": ["summary": .string(event.title), "description": .string(event.message)],
            "startsAt": .string(ISOTime.string(event.at)),
            "endsAt": .string(ISOTime.string(ends)),
        ]
    }
}

/// A child process with the event on stdin, run off the cooperative pool, bounded in time.
/// Each on a queue of its own: a hung notification command never delays another notifier.
enum ChildProcess {
    static func run(_ executable: String, arguments: [String], environment: [String: String], input: Data, timeout: Duration) async throws -> (status: Int32, output: String) {
        try await BlockingQueue(label: "warden.notify-process").run {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = environment
            let stdin = Pipe(), stdout = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            process.standardError = stdout
            try process.run()
            let deadline = DispatchTime.now() + .milliseconds(Int(timeout.components.seconds * 1000))
            DispatchQueue.global().asyncAfter(deadline: deadline) { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
            let output = stdout.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: output.prefix(2_000), as: UTF8.self))
        }
    }
}

/// `exec` notifiers: Nagios/Monit-style notification commands.
enum ExecDelivery {
    static func run(_ command: String, arguments: [String], event: NotificationEvent, text: String, runCommand: CommandRunner) async throws -> String {
        var environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"]
        environment["WARDEN_EVENT"] = event.kind.rawValue
        environment["WARDEN_HOST"] = event.host
        environment["WARDEN_MESSAGE"] = text
        if let job = event.job { environment["WARDEN_JOB"] = job }
        if let rule = event.rule { environment["WARDEN_RULE"] = rule }
        if let severity = event.severity { environment["WARDEN_SEVERITY"] = severity.rawValue }
        if let status = event.status { environment["WARDEN_STATUS"] = status }
        let (status, output) = try await runCommand(command, arguments, environment, Data(event.payload.jsonText().utf8), .seconds(30))
        guard status == 0 else {
            throw NotificationTransport.DeliveryError(description: "\(command) exited with status \(status)\(output.isEmpty ? "" : ": " + output.prefix(300))")
        }
        return "exit 0" + (output.isEmpty ? "" : ": " + output.prefix(300))
    }
}

/// `email` notifiers, through curl's SMTP client (STARTTLS, TLS, AUTH): a well-kept
/// implementation rather than a hand-written one. The password goes in a 0600 config file
/// curl reads, never on its command line.
enum SMTPDelivery {
    static let curl = "/usr/bin/curl"

    static func send(_ event: NotificationEvent, text: String, settings: SMTPSettings, runCommand: CommandRunner) async throws -> String {
        let scheme = settings.security == .tls ? "smtps" : "smtp"
        var lines = ["url = \"\(scheme)://\(settings.host):\(settings.port)\"", "mail-from = \"\(settings.from)\"", "silent", "show-error"]
        lines += settings.to.map { "mail-rcpt = \"\($0)\"" }
        if settings.security == .starttls { lines.append("ssl-reqd") }
        if let username = settings.username { lines.append("user = \"\(username):\(settings.password ?? "")\"") }
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("warden-smtp-\(UUID().uuidString)").path
        guard FileManager.default.createFile(atPath: config, contents: Data((lines.joined(separator: "\n") + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw NotificationTransport.DeliveryError(description: "cannot write curl's config in \(FileManager.default.temporaryDirectory.path)")
        }
        defer { try? FileManager.default.removeItem(atPath: config) }
        let subject = text.split(separator: "\n").first.map(String.init) ?? event.title
        let message = [
            "From: \(settings.from)", "To: \(settings.to.joined(separator: ", "))", "Subject: \(subject)",
            "Date: \(rfc2822(Date()))", "Message-ID: <\(UUID().uuidString)@\(event.host)>",
            "X-Warden-Event: \(event.kind.rawValue)", "Content-Type: text/plain; charset=utf-8", "",
            text, "", "--", "Warden on \(event.host)", "",
        ].joined(separator: "\r\n")
        let (status, output) = try await runCommand(curl, ["--config", config, "--upload-file", "-"], ["LANG": "C.UTF-8"], Data(message.utf8), .seconds(30))
        guard status == 0 else {
            throw NotificationTransport.DeliveryError(description: "SMTP \(settings.host):\(settings.port): curl exit \(status): \(output.prefix(300))")
        }
        return "accepted by \(settings.host):\(settings.port)"
    }

    static func rfc2822(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }
}
