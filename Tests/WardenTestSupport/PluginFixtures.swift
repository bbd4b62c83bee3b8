import Foundation

/// Temporary directories of custom plugin executables (shell scripts) for tests.
public final class PluginFixtureDirectory: Sendable {
    public let path: String

    public init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("warden-plugins-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        path = base.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Written through a descriptor opened `O_CLOEXEC`: Foundation's write leaves it
    /// inheritable, and a child another test forked meanwhile kept the script open for writing,
    /// so running it failed with "Text file busy" (ETXTBSY).
    public static func writeClosingOnExec(_ text: String, to file: String) throws {
        let descriptor = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Writes an executable script answering `--spec` with `spec` and otherwise running `body`.
    @discardableResult
    public func addScript(_ fileName: String, spec: String, body: String, mode: Int = 0o755) throws -> String {
        let script = """
            #!/bin/sh
            if [ "$1" = "--spec" ]; then
            cat <<'SPEC'
            \(spec)
            SPEC
            exit 0
            fi
            \(body)

            """
        let file = (path as NSString).appendingPathComponent(fileName)
        try Self.writeClosingOnExec(script, to: file)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }

    /// A spec document for a plugin called `name`.
    public static func spec(_ name: String, category: String = "diagnostic", parameters: String = #"{"type":"object"}"#) -> String {
        #"{"name":"\#(name)","description":"test plugin \#(name)","category":"\#(category)","parameters":\#(parameters)}"#
    }
}

/// Whether a process with this pid is alive (not a zombie).
public func processIsAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    // Field 3 is the state; Z is a zombie, which is dead but not yet reaped.
    guard let close = status.lastIndex(of: ")") else { return false }
    let state = status[status.index(close, offsetBy: 2)...].prefix(1)
    return state != "Z"
}

/// Whether `pid` is gone within `limit`: a process group's SIGKILL is sent, not waited for,
/// and on a loaded machine a killed process may not have run its exit yet when the plugin
/// returns. A process that survived the kill (`sleep 300`) still fails the check.
public func processExits(_ pid: Int32, within limit: Duration = .seconds(2)) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while processIsAlive(pid) {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return true
}

/// Reads a pid a fixture wrote to a file, waiting briefly for it to appear.
public func readPid(_ file: String) async -> Int32? {
    for _ in 0..<100 {
        if let text = try? String(contentsOfFile: file, encoding: .utf8),
           let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return pid }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return nil
}
