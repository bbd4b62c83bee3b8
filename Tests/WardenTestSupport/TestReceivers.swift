import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real Alertmanager from Debian (`prometheus-alertmanager`) on loopback, its data in a
/// temporary directory; stopped and removed on `stop()`.
public final class TestAlertmanager: @unchecked Sendable {
    public static var binary: String { RealParts.program("prometheus-alertmanager") }
    public static var available: Bool { RealParts.executable("prometheus-alertmanager") != nil }

    public let port: Int
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    private let process = Process()
    private let directory: String

    public init() throws {
        port = try TestHTTPServer.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-alertmanager-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            route: {receiver: blackhole, group_wait: 1s}
            receivers: [{name: blackhole}]
            """.write(toFile: directory + "/alertmanager.yml", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--config.file=\(directory)/alertmanager.yml", "--storage.path=\(directory)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=", "--log.level=error",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The active alerts (`GET /api/v2/alerts`), nil while it does not answer.
    public func alerts() async -> [[String: Any]]? {
        guard let (data, response) = try? await URLSession.shared.data(from: URL(string: "\(baseURL)/api/v2/alerts")!),
              (response as? HTTPURLResponse)?.statusCode == 200 else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]]
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            for _ in 0..<100 where process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}

/// A real SMTP server (Debian's `python3-aiosmtpd`) on loopback that writes each message it
/// accepts to a directory, one file per message.
public final class TestSMTPServer: @unchecked Sendable {
    public static let python = "/usr/bin/python3"
    public static var available: Bool {
        FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/aiosmtpd/__init__.py")
    }

    public let port: Int
    public let directory: String
    private let process = Process()

    public init() throws {
        port = try TestHTTPServer.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-smtp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = """
            import asyncio, os, sys, time
            from aiosmtpd.controller import Controller
            class Save:
                async def handle_DATA(self, server, session, envelope):
                    name = os.path.join(sys.argv[2], "%d.eml" % time.time_ns())
                    with open(name + ".tmp", "wb") as f:
                        f.write(("X-Envelope-From: %s\\nX-Envelope-To: %s\\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos))).encode())
                        f.write(envelope.original_content)
                    os.rename(name + ".tmp", name)
                    return "250 OK"
            controller = Controller(Save(), hostname="127.0.0.1", port=int(sys.argv[1]))
            controller.start()
            print("ready", flush=True)
            while True:
                time.sleep(3600)
            """
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = ["-c", script, "\(port)", directory]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = output.fileHandleForReading.availableData
    }

    /// The messages received so far, oldest first.
    public var messages: [String] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return files.compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}
