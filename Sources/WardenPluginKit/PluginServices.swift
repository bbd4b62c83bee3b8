/// Clients the host process shares with every plugin (the HTTP client and its event
/// loops), looked up by type. The contract names no client library: a plugin family that
/// needs one reads it from here, and the process that runs plugins provides it.
public struct PluginServices: Sendable {
    private var services: [ObjectIdentifier: any Sendable] = [:]

    public init() {}

    /// A copy that also provides `service` to whoever asks for its type.
    public func providing<Service: Sendable>(_ service: Service) -> PluginServices {
        var copy = self
        copy.services[ObjectIdentifier(Service.self)] = service
        return copy
    }

    /// The service of that type, if the host provided one.
    public func get<Service: Sendable>(_ type: Service.Type) -> Service? {
        services[ObjectIdentifier(type)] as? Service
    }
}
