import ArgumentParser
import Foundation
import WardenEngine
import WardenPluginKit

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        _superCommandName: "warden",  // parsed directly (Warden.parsedDirectly)
        abstract: "Per job: runs, success %, p50/p95 duration, last status, current streak.",
        version: WardenVersion.current  // `--help` lists `--version`, as under the tree
    )

    @OptionGroup var config: ConfigOptions

    @Option(help: "The window: a duration ago (24h, 7d) or a time.")
    var since: String = "24h"

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let start = try TimeArgument.parse(since, option: "--since")
        let store = try StoreAccess.openForReading(config)
        let statistics: [JobStatistics]
        do {
            statistics = try store.statistics(since: start)
        } catch {
            throw FatalError("reading \(store.path): \(error)")
        }
        if json {
            let output: JSONValue = [
                "since": .string(ISOTime.string(start)),
                "jobs": .array(statistics.map(Self.encode)),
            ]
            print(output.jsonText(pretty: true))
            return
        }
        guard !statistics.isEmpty else {
            print("no runs since \(ISOTime.local(start))")
            return
        }
        var rows = [["JOB", "RUNS", "OK", "WARNING", "CRITICAL", "UNKNOWN", "TIMEOUT", "SKIPPED", "SUCCESS", "P50", "P95", "LAST", "STREAK"]]
        for job in statistics {
            rows.append([
                job.job, "\(job.runs)", "\(job.ok)", "\(job.bySeverity[.warning] ?? 0)", "\(job.bySeverity[.critical] ?? 0)",
                "\(job.bySeverity[.unknown] ?? 0)", "\(job.bySeverity[.timeout] ?? 0)", "\(job.skipped)",
                job.successPercent.map { String(format: "%.1f%%", $0) } ?? "-",
                job.p50.map(RunTable.milliseconds) ?? "-", job.p95.map(RunTable.milliseconds) ?? "-",
                job.lastStatus?.rawValue ?? "-", job.streak.map { "\($0.length) \($0.kind)" } ?? "-",
            ])
        }
        print(TextTable.render(rows))
    }

    static func encode(_ job: JobStatistics) -> JSONValue {
        func milliseconds(_ duration: Duration?) -> JSONValue {
            duration.map { .double(($0.seconds * 1_000_000).rounded() / 1000) } ?? .null
        }
        return [
            "job": .string(job.job),
            "runs": .int(job.runs),
            "ok": .int(job.ok),
            "failing": .int(job.failing),
            "warning": .int(job.bySeverity[.warning] ?? 0),
            "critical": .int(job.bySeverity[.critical] ?? 0),
            "unknown": .int(job.bySeverity[.unknown] ?? 0),
            "timeout": .int(job.bySeverity[.timeout] ?? 0),
            "skipped": .int(job.skipped),
            "success_pct": job.successPercent.map { .double(($0 * 10).rounded() / 10) } ?? .null,
            "p50_ms": milliseconds(job.p50),
            "p95_ms": milliseconds(job.p95),
            "last_status": job.lastStatus.map { .string($0.rawValue) } ?? .null,
            "last_run_at": job.lastRunAt.map { .string(ISOTime.string($0)) } ?? .null,
            "streak": job.streak.map { ["kind": .string($0.kind), "length": .int($0.length)] } ?? .null,
        ]
    }
}

struct RunJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-job",
        abstract: "Run one configured job now, with its retry policy; recorded with trigger `manual`.",
        discussion: "Exit status: 0 the run succeeded, 1 it failed. Works while the daemon runs."
    )

    @OptionGroup var config: ConfigOptions
    @OptionGroup var loading: PluginLoadingOptions

    @Argument(help: "The job's name in the config.")
    var name: String

    @Flag(help: "Print the recorded run as JSON, attempts included.")
    var json = false

    func run() async throws {
        let settings = config.daemonSettings()
        let runtime = try await CommandRuntime.load(
            directories: loading.directories(default: settings.pluginDirectories),
            level: loading.level(default: .warning)
        )
        let loaded = try runtime.loadConfig(config)
        guard let job = loaded.job(named: name) else {
            let hint = NameSuggester.nearest(to: name, among: loaded.jobs.map(\.name)).map { " — did you mean `\($0)`?" } ?? ""
            throw UsageError("no job `\(name)` in \(config.configPath)\(hint)")
        }
        guard let entry = runtime.registry.lookup(job.plugin) else {
            throw FatalError("plugin `\(job.plugin)` of job `\(name)` is not registered")
        }
        let store: HistoryStore
        do {
            store = try HistoryStore.openForWriting(path: loaded.daemon.database, sync: loaded.daemon.databaseSync)
        } catch {
            throw FatalError(error.description)
        }
        let httpClient = SharedHTTPClient.make()
        let executor = PluginExecutor(httpClient: httpClient, logger: runtime.logger, environment: ProcessInfo.processInfo.environment,
                                      limits: loaded.daemon.pluginLimits)
        let run = await AttemptLoop(executor: executor).run(
            job, plugin: entry, trigger: .manual, scheduledAt: Date(), nextTick: nil, logger: runtime.logger
        )
        await executor.resources.closeAll()
        try? await httpClient.shutdown()
        let id: Int64
        do {
            id = try store.insert([run]).first ?? 0
            try store.close()
        } catch {
            throw FatalError("recording the run in \(store.path): \(error)")
        }
        let stored = StoredRun(id: id, record: run)
        if json {
            print(HistoryJSON.run(stored, attempts: true).jsonText(pretty: true))
        } else {
            print(RunTable.render([stored], attempts: true))
        }
        throw ExitCode(run.status == .ok ? ExitStatus.success : ExitStatus.pluginFailed)
    }
}
