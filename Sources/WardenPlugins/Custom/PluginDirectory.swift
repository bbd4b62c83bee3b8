import Foundation
import Logging
import WardenPluginKit
import WardenPluginSupport

/// Finds custom plugins in directories and registers them.
///
/// Like sshd's StrictModes, a directory or file that anyone but root (or the daemon's own
/// user) could change is refused: a plugin runs with the daemon's privileges.
public struct PluginDirectory: Sendable {
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public struct Report: Sendable {
        public var registered: [RegisteredPlugin] = []
        public var problems: [Problem] = []
    }

    public static let defaultPath = "/etc/warden/plugins.d"
    static let concurrentSpecLoads = 8

    public var paths: [String]
    public var specTimeout: Duration
    public var environment: [String: String]

    public init(paths: [String], specTimeout: Duration = .seconds(5), environment: [String: String] = ContainedProcess.minimalEnvironment) {
        self.paths = paths
        self.specTimeout = specTimeout
        self.environment = environment
    }

    /// Scans every directory and registers what passes; problems are logged and returned,
    /// never thrown, so one bad plugin does not stop the daemon.
    public func discover(into registry: PluginRegistry, logger: Logger) async -> Report {
        var report = Report()
        var candidates: [String] = []
        for directory in paths {
            let scan = Self.scan(directory)
            candidates += scan.files
            report.problems += scan.problems
        }
        let loaded = await withTaskGroup(of: Result<ExecutablePlugin, Problem>.self) { group in
            // A few `--spec` children at a time: a directory of hundreds of plugins must not
            // fork hundreds of processes at once.
            var pending = candidates.makeIterator()
            for _ in 0..<Self.concurrentSpecLoads {
                guard let path = pending.next() else { break }
                group.addTask { await loadSpec(at: path) }
            }
            var results: [Result<ExecutablePlugin, Problem>] = []
            for await result in group {
                results.append(result)
                if let path = pending.next() { group.addTask { await loadSpec(at: path) } }
            }
            return results
        }
        // Register in path order so that which duplicate wins does not depend on timing.
        let ordered = loaded.sorted { Self.path(of: $0) < Self.path(of: $1) }
        for result in ordered {
            switch result {
            case .success(let plugin):
                do {
                    report.registered.append(try registry.register(plugin, origin: .executable(path: plugin.path)))
                } catch {
                    report.problems.append(Problem(path: plugin.path, reason: error.description))
                }
            case .failure(let problem):
                report.problems.append(problem)
            }
        }
        for problem in report.problems {
            logger.warning("custom plugin refused", metadata: ["path": .string(problem.path), "reason": .string(problem.reason)])
        }
        return report
    }

    private static func path(of result: Result<ExecutablePlugin, Problem>) -> String {
        switch result {
        case .success(let plugin): return plugin.path
        case .failure(let problem): return problem.path
        }
    }

    /// Executable regular files (symlinks resolved) in `directory` that pass the ownership
    /// and permission checks, and a problem for each one refused. A missing directory is not
    /// a problem: there is nothing to load.
    static func scan(_ directory: String) -> (files: [String], problems: [Problem]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { return ([], []) }
        guard isDirectory.boolValue else { return ([], [Problem(path: directory, reason: "not a directory")]) }
        if let unsafe = FileSafety.problem(at: directory) { return ([], [unsafe]) }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return ([], [Problem(path: directory, reason: "cannot be read")])
        }
        var files: [String] = []
        var problems: [Problem] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(name)
            let resolved = (path as NSString).resolvingSymlinksInPath
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: resolved),
                  attributes[.type] as? FileAttributeType == .typeRegular,
                  FileManager.default.isExecutableFile(atPath: resolved)
            else { continue }
            if let unsafe = FileSafety.problem(at: resolved) {
                problems.append(Problem(path: path, reason: unsafe.reason))
            } else {
                files.append(resolved)
            }
        }
        return (files, problems)
    }

    /// Runs `<exe> --spec` and reads the spec it prints.
    func loadSpec(at path: String) async -> Result<ExecutablePlugin, Problem> {
        let outcome: ContainedProcess.Outcome
        do {
            outcome = try await ContainedProcess.run(.init(
                executable: path, arguments: ["--spec"], environment: environment,
                outputLimit: 256 << 10, timeout: specTimeout, killGrace: .milliseconds(500)
            ))
        } catch {
            return .failure(Problem(path: path, reason: "cannot run `--spec`: \(error)"))
        }
        if outcome.timedOut { return .failure(Problem(path: path, reason: "`--spec` did not finish within \(specTimeout)")) }
        guard outcome.termination == .exited(0) else {
            return .failure(Problem(path: path, reason: "`--spec` \(outcome.termination)"))
        }
        let text = String(decoding: outcome.standardOutput, as: UTF8.self)
        let spec: PluginSpec
        do {
            spec = try JSONDecoder().decode(PluginSpec.self, from: Data(text.utf8))
        } catch {
            return .failure(Problem(path: path, reason: "`--spec` did not print a valid spec (name, description, category, parameters): \(Self.describe(error))"))
        }
        return .success(ExecutablePlugin(spec: spec, path: path, environment: environment))
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing `\(key.stringValue)`"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at `\(context.codingPath.map(\.stringValue).joined(separator: "."))`"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON" : "invalid value at `\(context.codingPath.map(\.stringValue).joined(separator: "."))`"
        default: return String(describing: error)
        }
    }
}

/// sshd-style StrictModes for plugin files and directories.
enum FileSafety {
    static func problem(at path: String) -> PluginDirectory.Problem? {
        var info = stat()
        guard stat(path, &info) == 0 else { return .init(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))") }
        if info.st_uid != 0 && info.st_uid != geteuid() {
            return .init(path: path, reason: "owned by uid \(info.st_uid), not by root or the daemon's user")
        }
        if info.st_mode & (S_IWGRP | S_IWOTH) != 0 {
            return .init(path: path, reason: "writable by group or others (mode \(String(info.st_mode & 0o7777, radix: 8))); chmod go-w")
        }
        return nil
    }
}
