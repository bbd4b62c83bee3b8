import Foundation
import Testing
import WardenTestSupport

/// Secrets in every slot (a job's `${env:}` and `${file:}` values, a rule step's, `writeOnly`
/// parameters given literally), echoed back by plugins in their message, error, data and
/// stderr: none reaches the database files, the log or any command's output.
@Suite("secrets everywhere")
struct SecretsEverywhereCLITests {
    /// Prints its parameters back in every field of its result, and on stderr.
    static let echo = #"""
        p=$(cat)
        echo "$p" >&2
        printf '%s' "$p" | python3 -c 'import json,sys; p=sys.stdin.read(); print(json.dumps({"success": SUCCESS, "message": "got " + p, "error": None if SUCCESS else "echo " + p, "data": {"echo": json.loads(p), "raw": p}}))'
        """#

    @Test func noSecretReachesTheDatabaseTheLogOrAnyOutput() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let suffix = UUID().uuidString.prefix(8)
        let secrets = [
            "job-env": "SECRETJOBENV\(suffix)", "job-file": "SECRETJOBFILE\(suffix)", "step-env": "SECRETSTEPENV\(suffix)",
            "step-file": "SECRETSTEPFILE\(suffix)", "write-only": "SECRETWRITEONLY\(suffix)",
        ]
        try (secrets["job-file"]! + "\n").write(toFile: directory + "/job.secret", atomically: true, encoding: .utf8)
        try (secrets["step-file"]! + "\n").write(toFile: directory + "/step.secret", atomically: true, encoding: .utf8)
        let fixtures = try PluginFixtureDirectory()
        let properties = #"{"type":"object","properties":{"token":{"type":"string","writeOnly":true},"header":{"type":"string"},"path":{"type":"string"},"count":{"type":"integer"}}}"#
        try fixtures.addScript("echo_diag", spec: PluginFixtureDirectory.spec("echo_diag", parameters: properties), body: Self.echo.replacingOccurrences(of: "SUCCESS", with: "False"))
        try fixtures.addScript("echo_fix", spec: PluginFixtureDirectory.spec("echo_fix", category: "remediation", parameters: properties), body: Self.echo.replacingOccurrences(of: "SUCCESS", with: "True"))

        let config = directory + "/warden.yaml"
        let text = """
            daemon: {database: history.db, shutdown_grace: 2s, log_level: debug}
            jobs:
              - name: diag
                plugin: echo_diag
                every: 1s
                params: {token: \(secrets["write-only"]!), header: "Bearer ${env:JOB_SECRET}", path: "${file:\(directory)/job.secret}"}
            rules:
              - name: fix-diag
                when: {job: diag, consecutive_failures: 2}
                then:
                  - plugin: echo_fix
                    params: {token: "${file:\(directory)/step.secret}", header: "x-${env:STEP_SECRET}-y", path: "{{ run.message }}"}
                verify_after: 200ms
                cooldown: 1s
            """
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["JOB_SECRET": secrets["job-env"]!, "STEP_SECRET": secrets["step-env"]!]
        let arguments = ["--config", config, "--plugin-dir", fixtures.path]
        let daemon = try DaemonProcess(arguments, logFile: directory + "/daemon.log", environment: environment)
        let remediated = await poll(within: .seconds(30)) { () -> Bool? in
            let output = try? await CLI.run(["history", "--config", config, "--remediations", "--json"], environment: environment)
            return ((output?.json as? [[String: Any]]) ?? []).contains { $0["outcome"] as? String == "ok" } ? true : nil
        }
        #expect(remediated == true, "\(daemon.log.suffix(3000))")

        // The database files while the daemon runs (the -wal holds the recent rows).
        var texts: [(String, String)] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasPrefix("history.db") {
            texts.append((file, String(decoding: try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)), as: UTF8.self)))
        }
        #expect(texts.contains { $0.0 == "history.db-wal" })
        for command in [
            ["history", "--config", config, "--json", "--attempts", "--limit", "1000"],
            ["history", "--config", config, "--remediations", "--json"],
            ["history", "--config", config, "--remediations"],
            ["explain", "diag", "--config", config],
            ["explain", "diag", "--config", config, "--json"],
            ["check-config", "--config", config, "--plugin-dir", fixtures.path],
            ["run-job", "diag", "--config", config, "--plugin-dir", fixtures.path, "--json"],
        ] {
            let output = try await CLI.run(command, environment: environment)
            texts.append((command.prefix(2).joined(separator: " "), output.stdout + output.stderr))
        }
        // An error about a value that came from a secret.
        let broken = directory + "/broken.yaml"
        try text.replacingOccurrences(of: "path: \"{{ run.message }}\"", with: "count: \"${env:STEP_SECRET}\"")
            .replacingOccurrences(of: "header: \"Bearer ${env:JOB_SECRET}\"", with: "count: \"${env:JOB_SECRET}\"")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let refused = try await CLI.run(["check-config", "--config", broken, "--plugin-dir", fixtures.path], environment: environment)
        #expect(refused.status != 0)
        texts.append(("check-config (broken)", refused.stdout + refused.stderr))

        #expect(await daemon.stop() == 0)
        texts.append(("daemon log", daemon.log))
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasPrefix("history.db") {
            texts.append((file + " (after stop)", String(decoding: try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)), as: UTF8.self)))
        }
        for (slot, secret) in secrets.sorted(by: { $0.key < $1.key }) {
            for (place, text) in texts where text.contains(secret) {
                Issue.record("the \(slot) secret reached \(place)")
            }
        }
        // The plugins did see the secrets (the test would prove nothing otherwise).
        #expect(daemon.log.contains("echo_fix") && texts.contains { $0.1.contains("***") })
    }
}
