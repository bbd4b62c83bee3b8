import AsyncHTTPClient
import Logging
import WardenEngine
import WardenPluginKit
import WardenPlugins

/// One shared client for every test, as in the daemon.
let sharedHTTPClient = SharedHTTPClient.make()

func makeContext(timeout: Duration = .seconds(10), environment: [String: String] = [:], dryRun: Bool = false) -> PluginContext {
    PluginContext(
        logger: Logger(label: "test"),
        deadline: .now + timeout,
        services: PluginServices().providing(sharedHTTPClient),
        dryRun: dryRun,
        environment: environment
    )
}

/// Validates like the engine does, then executes.
func run(
    _ plugin: any Plugin, _ parameters: JSONObject, timeout: Duration = .seconds(10), environment: [String: String] = [:],
    limits: HostLimits = HostLimits(), dryRun: Bool = false, resources: PluginResources? = nil
) async throws -> PluginResult {
    let registry = PluginRegistry()
    let entry = try registry.register(plugin)
    let validated = try entry.validate(parameters).get()
    let executor = PluginExecutor(
        httpClient: sharedHTTPClient, logger: Logger(label: "test"), environment: environment, limits: limits,
        resources: resources ?? PluginResources())
    let result = await executor.execute(entry, parameters: validated, timeout: timeout, dryRun: dryRun).result
    // Pools a test did not hand in are its own: closed here, as the daemon does on reload.
    if resources == nil { await executor.resources.closeAll() }
    return result
}
