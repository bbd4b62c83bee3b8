import WardenPluginKit

/// The plugin families that need no client library of their own: Monitor, Host, systemd,
/// Observability, System and Nagios. Adding a plugin means adding its file and a line here.
public enum CorePlugins {
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
        // Nagios / monitoring-plugins compatibility
        NagiosCheckPlugin(),
    ]
}
