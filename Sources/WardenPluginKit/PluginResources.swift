/// Something a plugin keeps between runs (a database connection pool, a cached
/// credential) and that the daemon must be able to close without knowing what it is.
public protocol PluginResource: AnyObject, Sendable {
    /// Releases whatever the resource holds. Called once, when the daemon reloads or stops;
    /// work still using the resource may finish, nothing new starts on it.
    func close() async
}

/// Long-lived resources shared by runs, keyed by what they connect to. Plugins ask for a
/// resource by key and get the same instance every run; the engine closes them all on
/// reload (targets and credentials may have changed) and on shutdown.
public actor PluginResources {
    private var resources: [String: any PluginResource] = [:]

    public init() {}

    /// The resource stored under `key`, made by `make` the first time it is asked for.
    /// A resource of another type under the same key is a programming error in the caller's
    /// key scheme, so keys should start with the plugin family (`postgres:`, `k8s:`).
    public func resource<Resource: PluginResource>(
        for key: String, make: @Sendable () throws -> Resource
    ) throws -> Resource {
        if let existing = resources[key] as? Resource { return existing }
        let made = try make()
        resources[key] = made
        return made
    }

    /// How many resources are open: for status and tests.
    public var count: Int { resources.count }

    /// Closes every resource and forgets it; the next `resource(for:)` makes a new one.
    public func closeAll() async {
        let closing = Array(resources.values)
        resources.removeAll()
        for resource in closing { await resource.close() }
    }
}
