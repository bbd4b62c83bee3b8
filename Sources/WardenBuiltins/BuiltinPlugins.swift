import WardenKubernetes
import WardenPluginKit
import WardenPlugins
import WardenPostgres

/// Every built-in plugin, family by family: each family is its own module with the client
/// libraries it needs, so the contract and the core families build without them.
public enum BuiltinPlugins {
    public static let all: [any Plugin] = CorePlugins.all + PostgresPlugins.all + KubernetesPlugins.all

    /// Registers every built-in. A failure here is a programming error in a spec, caught by the tests.
    public static func register(into registry: PluginRegistry) throws(RegistrationError) {
        for plugin in all { try registry.register(plugin, origin: .builtin) }
    }
}
