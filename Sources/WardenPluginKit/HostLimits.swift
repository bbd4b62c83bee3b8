import Glibc

/// The daemon's limits on what plugins may touch, typed. Plugins enforce them when they run
/// and the engine checks the same lists before every remediation step and at load time, so
/// the one type both sides read lives in the contract.
public struct HostLimits: Sendable, Equatable {
    /// A daemon setting that lists globs a parameter's value must match (`x-allowed-by`).
    public enum List: String, Sendable, CaseIterable {
        case allowedUnits = "allowed_units"
        case shellAllow = "shell_allow"
        case shellWriteAllow = "shell_write_allow"

        /// Program lists match paths, where `*` stops at `/`; unit lists match names.
        var fnmatchFlags: Int32 { self == .allowedUnits ? 0 : FNM_PATHNAME }
    }

    /// Units (globs) the systemd plugins may start, stop or restart. nil only outside a
    /// daemon config (a manual `warden exec`), where no unit bound applies.
    public var allowedUnits: [String]?
    /// Programs `shell.exec` may run; empty: none.
    public var shellAllow: [String]
    /// Programs the remediation `shell.exec_write` may run; empty: none.
    public var shellWriteAllow: [String]
    /// Directory of Markdown runbooks for `runbook.search`.
    public var runbooks: String

    public static let defaultRunbooks = "/etc/warden/runbooks"

    public init(allowedUnits: [String]? = nil, shellAllow: [String] = [], shellWriteAllow: [String] = [], runbooks: String = HostLimits.defaultRunbooks) {
        self.allowedUnits = allowedUnits
        self.shellAllow = shellAllow
        self.shellWriteAllow = shellWriteAllow
        self.runbooks = runbooks
    }

    /// The globs of `list`; nil when the list does not bound anything (see `allowedUnits`).
    public func patterns(_ list: List) -> [String]? {
        switch list {
        case .allowedUnits: allowedUnits
        case .shellAllow: shellAllow
        case .shellWriteAllow: shellWriteAllow
        }
    }

    /// Whether `value` may be used where `list` applies.
    public func allows(_ value: String, by list: List) -> Bool {
        guard let patterns = patterns(list) else { return true }
        return patterns.contains { fnmatch($0, value, list.fnmatchFlags) == 0 }
    }

    /// The refusal a plugin throws when `value` is outside `list`, naming what to change.
    public func check(_ value: String, by list: List, what: String) throws(PluginError) {
        guard !allows(value, by: list) else { return }
        let patterns = self.patterns(list) ?? []
        throw PluginError(
            "\(value) is not in daemon.\(list.rawValue)",
            message: patterns.isEmpty
                ? "no \(what) may be used until daemon.\(list.rawValue) lists it"
                : "\(value) is not allowed (daemon.\(list.rawValue): \(patterns.joined(separator: ", ")))"
        )
    }
}
