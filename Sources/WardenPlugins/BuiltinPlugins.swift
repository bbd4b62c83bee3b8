import WardenPluginKit

/// Every built-in plugin, in one list. Adding a plugin means adding its file and a line here.
public enum BuiltinPlugins {
    public static let all: [any Plugin] = [
        // Monitor
        ServiceStatusPlugin(),
        ExternalAPIPlugin(),
        TCPConnectPlugin(),
        TLSCertPlugin(),
        DNSResolvePlugin(),
        // Host
        DiskUsagePlugin(),
        LoadAveragePlugin(),
        MemoryPlugin(),
        ProcessRunningPlugin(),
        FileAgePlugin(),
        // systemd
        SystemdUnitStatusPlugin(),
        JournalErrorsPlugin(),
        // Observability
        PromQueryPlugin(),
        PromQueryRangePlugin(),
        LokiQueryPlugin(),
        SentryGetIssuePlugin(),
        // System
        SystemdRestartUnitPlugin(),
        SystemdStartUnitPlugin(),
        SystemdStopUnitPlugin(),
        ShellExecPlugin(),
        ShellExecWritePlugin(),
        HTTPRequestPlugin(),
        RunbookSearchPlugin(),
        // Database (PostgreSQL)
        ActiveConnectionsPlugin(),
        SlowQueriesPlugin(),
        LockWaitsPlugin(),
        ReplicationLagPlugin(),
        TableBloatPlugin(),
        TerminateQueryPlugin(),
        KillDeadlockPlugin(),
        VacuumTablePlugin(),
        // Kubernetes
        ListPodsPlugin(),
        DescribePodPlugin(),
        GetPodLogsPlugin(),
        GetEventsPlugin(),
        TopPodsPlugin(),
        RestartPodPlugin(),
        ScaleDeploymentPlugin(),
        RollbackDeploymentPlugin(),
        CordonNodePlugin(),
        DeleteEvictedPodsPlugin(),
        AdvancedRestartPlugin(),
        // Nagios / monitoring-plugins compatibility
        NagiosCheckPlugin(),
    ]

    /// Registers every built-in. A failure here is a programming error in a spec, caught by the tests.
    public static func register(into registry: PluginRegistry) throws(RegistrationError) {
        for plugin in all { try registry.register(plugin, origin: .builtin) }
    }
}
