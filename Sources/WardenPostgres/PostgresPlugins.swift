import WardenPluginKit

/// The PostgreSQL family (postgres-nio). Adding a plugin means adding its file and a line here.
public enum PostgresPlugins {
    public static let all: [any Plugin] = [
        ActiveConnectionsPlugin(),
        SlowQueriesPlugin(),
        LockWaitsPlugin(),
        ReplicationLagPlugin(),
        TableBloatPlugin(),
        TerminateQueryPlugin(),
        KillDeadlockPlugin(),
        VacuumTablePlugin(),
    ]
}
