import Foundation

/// Tests that need a real part (root, a Debian package, a loop device) may skip for a person
/// without it — but never in CI: `.ci/run` sets `WARDEN_REQUIRE_ALL_PARTS=1`, and then such a
/// test runs anyway and fails loudly on the missing part instead of going quietly green.
public enum RealParts {
    public static var required: Bool { ProcessInfo.processInfo.environment["WARDEN_REQUIRE_ALL_PARTS"] == "1" }

    /// For `.enabled(if: RealParts.available(…))`.
    public static func available(_ condition: Bool) -> Bool {
        condition || required
    }

    /// A program found on PATH, as the daemon and its plugins would find it; nil if absent.
    public static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The program's path on PATH, or its bare name (which then fails loudly to start).
    public static func program(_ name: String) -> String {
        executable(name) ?? name
    }
}
