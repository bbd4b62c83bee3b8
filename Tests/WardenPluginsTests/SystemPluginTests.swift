import Foundation
import Testing
import WardenPluginKit
import WardenPlugins
import WardenTestSupport

@Suite("system plugins")
struct SystemPluginTests {
    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-system-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func shellExecRunsOnlyAllowListedPrograms() async throws {
        let refused = try await run(ShellExecPlugin(), ["command": "/bin/echo", "args": ["hi"]])
        #expect(!refused.success && refused.error == "/bin/echo is not in daemon.shell_allow")
        let limits = HostLimits(shellAllow: ["/bin/echo", "/usr/bin/*"])
        let echo = try await run(ShellExecPlugin(), ["command": "/bin/echo", "args": ["hello", "world"]], limits: limits)
        #expect(echo.success && echo.data["stdout"] == "hello world\n" && echo.data["exit_code"] == 0)
        #expect(echo.message == "hello world")
        let globbed = try await run(ShellExecPlugin(), ["command": "/usr/bin/printf", "args": ["%s", "x"]], limits: limits)
        #expect(globbed.success && globbed.data["stdout"] == "x")
        let failing = try await run(ShellExecPlugin(), ["command": "/usr/bin/ls", "args": ["/nonexistent"]], limits: limits)
        #expect(!failing.success && failing.data["exit_code"] == 2 && failing.error?.hasPrefix("exit status 2: ") == true)
        let outside = try await run(ShellExecPlugin(), ["command": "/bin/sh", "args": ["-c", "true"]], limits: limits)
        #expect(!outside.success)
    }

    @Test func shellExecBoundsOutputAndTime() async throws {
        let limits = HostLimits(shellAllow: ["/usr/bin/yes", "/bin/sleep", "/usr/bin/sleep"])
        let flood = try await run(ShellExecPlugin(), ["command": "/usr/bin/yes", "max_output": 1000, "timeout": 1], limits: limits)
        #expect(flood.data["output_truncated"] == true)
        #expect((flood.data["stdout"]?.stringValue?.utf8.count ?? 0) <= 1000)
        let started = ContinuousClock.now
        let slow = try await run(ShellExecPlugin(), ["command": "/bin/sleep", "args": ["30"], "timeout": 0.5], limits: limits)
        #expect(!slow.success && slow.retry && slow.error == "timed out after 0.5s")
        #expect(ContinuousClock.now - started < .seconds(15), "sleep 30 was cut short")
    }

    @Test func shellExecWriteUsesTheGivenEnvironmentAndHonoursDryRun() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let limits = HostLimits(shellWriteAllow: ["/usr/bin/env", "/usr/bin/touch", "/nonexistent/*"])
        let env = try await run(ShellExecWritePlugin(), ["command": "/usr/bin/env", "env": ["APP_MODE": "repair"]], limits: limits)
        let printed = env.data["stdout"]?.stringValue ?? ""
        #expect(env.success && printed.contains("APP_MODE=repair") && printed.contains("PATH="))
        #expect(!printed.contains("HOME="))
        let marker = directory + "/touched"
        let dry = try await run(ShellExecWritePlugin(), ["command": "/usr/bin/touch", "args": .array([.string(marker)])], limits: limits, dryRun: true)
        #expect(dry.success && dry.message == "dry run: would run /usr/bin/touch \(marker)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        let real = try await run(ShellExecWritePlugin(), ["command": "/usr/bin/touch", "args": .array([.string(marker)])], limits: limits)
        #expect(real.success && FileManager.default.fileExists(atPath: marker))
        let missing = try await run(ShellExecWritePlugin(), ["command": "/nonexistent/fixer"], limits: limits)
        #expect(!missing.success && missing.error?.contains("does not exist") == true)
    }

    @Test func shellExecWriteRunsOnlyWhatShellWriteAllowLists() async throws {
        // Empty by default: nothing runs, dry run included.
        let none = try await run(ShellExecWritePlugin(), ["command": "/usr/bin/true"])
        #expect(!none.success && none.error == "/usr/bin/true is not in daemon.shell_write_allow")
        let dry = try await run(ShellExecWritePlugin(), ["command": "/usr/bin/true"], dryRun: true)
        #expect(!dry.success)
        let other = try await run(ShellExecWritePlugin(), ["command": "/usr/bin/true"], limits: HostLimits(shellWriteAllow: ["/usr/sbin/*"]))
        #expect(!other.success && other.message.contains("daemon.shell_write_allow: /usr/sbin/*"))
    }

    @Test func httpRequestSendsJSONAndChecksTheStatus() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let sent = try await run(HTTPRequestPlugin(), [
            "url": .string("\(server.baseURL)/hooks/deploy?x=1"), "headers": ["Authorization": "Bearer t0k"],
            "body": ["service": "web", "action": "restart"],
        ])
        #expect(sent.success && sent.data["status_code"] == 200)
        #expect(sent.data["body"]?["method"] == "POST" && sent.data["body"]?["path"] == "/hooks/deploy")
        let request = try #require(server.requests.last)
        #expect(request.headers["content-type"] == "application/json" && request.headers["authorization"] == "Bearer t0k")
        let failing = try await run(HTTPRequestPlugin(), ["url": .string("\(server.baseURL)/status/503"), "method": "GET"])
        #expect(!failing.success && failing.retry && failing.error == "unexpected status 503")
        let before = server.requests.count
        let dry = try await run(HTTPRequestPlugin(), ["url": .string("\(server.baseURL)/hooks/x")], dryRun: true)
        #expect(dry.success && dry.message.hasPrefix("dry run: would send POST"))
        #expect(server.requests.count == before)
    }

    @Test func runbookSearchFindsTheBestMatch() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "# Nginx returns 502\n\nCheck the upstream pool; restart php-fpm if its workers are stuck.\n".write(toFile: directory + "/nginx-502.md", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory + "/db", withIntermediateDirectories: true)
        try "# PostgreSQL connections exhausted\n\nTerminate idle in transaction sessions.\n".write(toFile: directory + "/db/connections.md", atomically: true, encoding: .utf8)
        try "# Disk full\n\nnginx logs are rotated daily.\n".write(toFile: directory + "/disk.md", atomically: true, encoding: .utf8)
        let limits = HostLimits(runbooks: directory)
        let result = try await run(RunbookSearchPlugin(), ["query": "nginx 502 upstream"], limits: limits)
        #expect(result.success && result.data["searched"] == 3)
        let matches = try #require(result.data["matches"]?.arrayValue)
        #expect(matches.first?["title"] == "Nginx returns 502")
        #expect(matches.first?["snippet"] == "Check the upstream pool; restart php-fpm if its workers are stuck.")
        #expect(matches.count == 2)
        let deep = try await run(RunbookSearchPlugin(), ["query": "idle in transaction", "limit": 1], limits: limits)
        #expect(deep.data["matches"]?[0]?["path"]?.stringValue?.hasSuffix("db/connections.md") == true)
        let none = try await run(RunbookSearchPlugin(), ["query": "kubernetes"], limits: limits)
        #expect(!none.success && none.error == "no match")
    }
}

extension JSONValue {
    subscript(index: Int) -> JSONValue? { arrayValue.flatMap { $0.indices.contains(index) ? $0[index] : nil } }
}
