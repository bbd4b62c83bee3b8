import Foundation
import Subprocess
import Testing
import WardenPluginKit
import WardenPlugins
import WardenTestSupport

/// A real TLS server: `openssl s_server` with a certificate made for the test.
final class TestTLSServer {
    let port: Int
    private let process = Process()
    private let directory: String

    init(days: Int, names: [String]) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let san = names.map { "DNS:\($0)" }.joined(separator: ",")
        let made = try await Subprocess.run(.path("/usr/bin/openssl"), arguments: [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem",
            "-days", "\(days)", "-subj", "/CN=\(names[0])", "-addext", "subjectAltName=\(san)",
        ], output: .discarded, error: .discarded)
        guard case .exited(0) = made.terminationStatus else { throw POSIXError(.EIO) }
        port = try TestHTTPServer.freePort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", directory + "/cert.pem", "-key", directory + "/key.pem", "-quiet", "-naccept", "100"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready when it accepts.
        for _ in 0..<100 {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(descriptor)
            if connected == 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite("tls_cert", .enabled(if: RealParts.available(FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"))))
struct TLSCertTests {
    @Test func readsTheCertificateAndItsExpiry() async throws {
        let server = try await TestTLSServer(days: 10, names: ["warden.test", "*.apps.warden.test"])
        // s_server serves one connection at a time and may still be finishing the readiness
        // probe's: a transport failure (no `days_left`) is tried again, a wrong answer is not.
        var soon = try await run(TLSCertPlugin(), ["host": "127.0.0.1", "port": .int(server.port), "server_name": "warden.test"])
        for _ in 0..<3 where soon.data["days_left"] == nil {
            try await Task.sleep(for: .milliseconds(200))
            soon = try await run(TLSCertPlugin(), ["host": "127.0.0.1", "port": .int(server.port), "server_name": "warden.test"])
        }
        #expect(!soon.success, "\(soon)")
        #expect(soon.error?.hasPrefix("expires in 9.") == true || soon.error?.hasPrefix("expires in 10.") == true, "\(soon)")
        let days = try #require(soon.data["days_left"]?.doubleValue)
        #expect(days > 9 && days <= 10)
        #expect(soon.data["subject_alternative_names"] == ["warden.test", "*.apps.warden.test"])
        #expect(soon.data["subject"]?.stringValue?.contains("CN=warden.test") == true)
        #expect(soon.data["self_signed"] == true)

        #expect(soon.effectiveSeverity == .critical)
        // Under warn_days (30 by default) but not under min_days: a warning.
        let warned = try await run(TLSCertPlugin(), ["host": "127.0.0.1", "port": .int(server.port), "server_name": "api.apps.warden.test", "min_days": 5])
        #expect(!warned.success && warned.effectiveSeverity == .warning && warned.error?.contains("(warn 30)") == true, "\(warned)")
        let fine = try await run(TLSCertPlugin(), ["host": "127.0.0.1", "port": .int(server.port), "server_name": "api.apps.warden.test", "min_days": 5, "warn_days": 7])
        #expect(fine.success, "\(fine)")
        let wrongName = try await run(TLSCertPlugin(), ["host": "127.0.0.1", "port": .int(server.port), "server_name": "other.test", "min_days": 5])
        #expect(!wrongName.success && wrongName.error?.hasPrefix("other.test is not among the certificate's names") == true)
    }

    @Test func aClosedPortIsTransient() async throws {
        let result = try await run(TLSCertPlugin(), ["host": "127.0.0.1", "port": .int(try TestHTTPServer.refusedPort())])
        #expect(!result.success && result.retry)
    }
}
