#if canImport(Glibc)
import Glibc
#endif
import Subprocess
import Synchronization
import SystemPackage

/// Runs an external program so that nothing it starts can outlive it or hurt the daemon:
/// its own session and process group, bounded output, a timeout that sends SIGTERM to the
/// whole group and SIGKILL after a grace, and a final SIGKILL of the group once it is done
/// (a grandchild left behind in the background is killed too). No shell is involved.
public enum ContainedProcess {
    public struct Request: Sendable {
        public var executable: String
        public var arguments: [String]
        public var environment: [String: String]
        public var standardInput: [UInt8]?
        public var outputLimit: Int
        public var errorLimit: Int
        public var timeout: Duration
        public var killGrace: Duration

        public init(
            executable: String,
            arguments: [String] = [],
            environment: [String: String] = ContainedProcess.minimalEnvironment,
            standardInput: [UInt8]? = nil,
            outputLimit: Int = 1 << 20,
            errorLimit: Int = 64 << 10,
            timeout: Duration,
            killGrace: Duration = .seconds(2)
        ) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
            self.standardInput = standardInput
            self.outputLimit = outputLimit
            self.errorLimit = errorLimit
            self.timeout = timeout
            self.killGrace = killGrace
        }
    }

    public enum Termination: Sendable, Hashable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signaled(let signal): return "killed by signal \(signal) (\(signalName(signal)))"
            }
        }
    }

    public struct Outcome: Sendable {
        public var termination: Termination
        public var standardOutput: [UInt8]
        /// stdout went past `outputLimit`; the process was killed and the output is unusable.
        public var outputOverflowed: Bool
        public var standardError: [UInt8]
        /// stderr went past `errorLimit`; only its start is kept, the rest was drained.
        public var errorTruncated: Bool
        public var timedOut: Bool
        public var pid: Int32

        public var standardErrorText: String { String(decoding: standardError, as: UTF8.self) }
    }

    /// The environment external programs get unless a caller says otherwise: no secrets
    /// or daemon internals leak in by inheritance.
    public static let minimalEnvironment: [String: String] = [
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    ]

    /// A child that exits without reading its stdin would otherwise kill the whole daemon
    /// with SIGPIPE when we write its parameters; with SIGPIPE ignored the write just fails.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    public static func run(_ request: Request) async throws -> Outcome {
        ignoreBrokenPipes
        var options = PlatformOptions()
        // Its own session makes its pid the process-group id, so signals reach every descendant.
        options.createSession = true
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: request.killGrace)]

        var environment: [Environment.Key: String] = [:]
        for (key, value) in request.environment { environment[Environment.Key(stringLiteral: key)] = value }

        let execution = try await Subprocess.run(
            .path(FilePath(request.executable)),
            arguments: Arguments(request.arguments),
            environment: .custom(environment),
            platformOptions: options,
            input: .inputWriter,
            output: .sequence,
            error: .sequence
        ) { execution in
            await collect(execution, request: request)
        }
        var outcome = execution.closureResult
        switch execution.terminationStatus {
        case .exited(let code): outcome.termination = .exited(code)
        case .signaled(let signal): outcome.termination = .signaled(signal)
        }
        // Whatever is left in the group (a background grandchild that closed its stdout) goes too.
        _ = kill(-outcome.pid, SIGKILL)
        return outcome
    }

    fileprivate enum Event: Sendable {
        case output([UInt8], overflowed: Bool)
        case error([UInt8], truncated: Bool)
        case inputWritten
        case deadline
        case cancelled
        /// Killed, yet a pipe is still held open: only a process that left our session
        /// (`setsid`) can do that. Stop reading rather than wait for it.
        case abandon
    }

    private static func collect(
        _ execution: Execution<CustomWriteInput, SequenceOutput, SequenceOutput>,
        request: Request
    ) async -> Outcome {
        let pid = execution.processIdentifier.value
        var outcome = Outcome(
            termination: .exited(0), standardOutput: [], outputOverflowed: false,
            standardError: [], errorTruncated: false, timedOut: false, pid: pid
        )
        let output = execution.standardOutput
        let error = execution.standardError
        let streamsClosed = Flag()
        let input = execution.standardInputWriter
        await withTaskGroup(of: Event.self) { group in
            group.addTask {
                // A child that exits without reading makes the write fail (EPIPE): not our
                // failure to report. The writer is always finished so its pipe is closed.
                if let bytes = request.standardInput, !bytes.isEmpty {
                    _ = try? await input.write(bytes)
                }
                try? await input.finish()
                return .inputWritten
            }
            group.addTask {
                let (bytes, overflowed) = await read(output, limit: request.outputLimit, stopAtLimit: true)
                return .output(bytes, overflowed: overflowed)
            }
            group.addTask {
                let (bytes, truncated) = await read(error, limit: request.errorLimit, stopAtLimit: false)
                return .error(bytes, truncated: truncated)
            }
            group.addTask {
                do {
                    try await Task.sleep(for: request.timeout)
                    return .deadline
                } catch {
                    return .cancelled
                }
            }
            var streamsOpen = 2
            var terminating = false
            reading: while streamsOpen > 0, let event = await group.next() {
                switch event {
                case .output(let bytes, let overflowed):
                    outcome.standardOutput = bytes
                    outcome.outputOverflowed = overflowed
                    streamsOpen -= 1
                    if overflowed { _ = kill(-pid, SIGKILL) }
                case .error(let bytes, let truncated):
                    outcome.standardError = bytes
                    outcome.errorTruncated = truncated
                    streamsOpen -= 1
                case .inputWritten:
                    continue
                case .abandon:
                    break reading
                case .deadline, .cancelled:
                    guard !terminating else { continue }
                    terminating = true
                    outcome.timedOut = (event.isDeadline)
                    // The streams end (EOF) once every holder of the pipes has exited; the
                    // escalation runs in its own task so it survives our cancellation.
                    group.addTask {
                        await Task {
                            _ = kill(-pid, SIGTERM)
                            await streamsClosed.wait(upTo: request.killGrace)
                            _ = kill(-pid, SIGKILL)
                            await streamsClosed.wait(upTo: .milliseconds(500))
                            return streamsClosed.isSet ? .cancelled : .abandon
                        }.value
                    }
                }
            }
            streamsClosed.set()
            group.cancelAll()
        }
        return outcome
    }

    /// Reads a stream to its end. Past `limit` it either stops (stdout: the result would be
    /// unusable anyway) or keeps draining without storing (stderr: never block the child).
    private static func read(_ stream: SubprocessOutputSequence, limit: Int, stopAtLimit: Bool) async -> ([UInt8], Bool) {
        var bytes: [UInt8] = []
        var exceeded = false
        do {
            for try await buffer in stream {
                let room = limit - bytes.count
                buffer.withUnsafeBytes { raw in
                    if raw.count <= room {
                        bytes.append(contentsOf: raw)
                    } else {
                        bytes.append(contentsOf: raw.prefix(max(0, room)))
                        exceeded = true
                    }
                }
                if exceeded && stopAtLimit { break }
            }
        } catch {
            // A read error ends the stream: what was read so far is what we have.
        }
        return (bytes, exceeded)
    }
}

/// A one-way latch shared with the escalation task.
private final class Flag: Sendable {
    private let storage = Atomic<Bool>(false)
    var isSet: Bool { storage.load(ordering: .acquiring) }
    func set() { storage.store(true, ordering: .releasing) }

    /// Polls until set or until `limit` has passed. Call it from an uncancelled task: in a
    /// cancelled one every sleep returns at once and this would spin.
    func wait(upTo limit: Duration) async {
        let giveUp = ContinuousClock.now + limit
        while !isSet, ContinuousClock.now < giveUp {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

extension ContainedProcess.Event {
    fileprivate var isDeadline: Bool {
        if case .deadline = self { return true }
        return false
    }
}

/// `SIGKILL`, `SIGSEGV`, …: the names operators know from `kill -l`.
public func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
        SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
        SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
    ]
    return names[signal] ?? "signal \(signal)"
}
