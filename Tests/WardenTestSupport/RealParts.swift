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
}
