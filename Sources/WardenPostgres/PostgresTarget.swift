import Foundation
import Logging
import NIOSSL
import PostgresNIO
import WardenPluginKit

/// One PostgreSQL server as a plugin reaches it: where, as whom, how securely. Everything
/// that makes two connections interchangeable is in `poolKey`, so runs against the same
/// target share a pool and runs against different ones never do.
struct PostgresTarget: Sendable {
    enum TLSMode: String, Sendable {
        case disable, prefer, require, verifyFull = "verify-full"
    }

    var host = "/var/run/postgresql"
    var port = 5432
    var database = "postgres"
    var user = "postgres"
    var password: String?
    var tls = TLSMode.disable
    var caFile: String?
    var connectTimeout: Duration = .seconds(5)
    var statementTimeout: Duration = .seconds(10)
    /// Shown in pg_stat_activity, so a DBA sees which sessions are Warden's.
    var applicationName = "warden"

    var isUnixSocket: Bool { host.hasPrefix("/") }

    /// For messages: `postgres@/var/run/postgresql:5432/app`, never the password.
    var displayName: String { "\(user)@\(host):\(port)/\(database)" }

    /// Identity of the pool. The password is part of it (a rotated password is a new pool),
    /// but only as a digest: the key may appear in debugging output.
    var poolKey: String {
        let secret = password.map { String(UInt64(bitPattern: Int64($0.hashValue)), radix: 36) } ?? "-"
        return "postgres:\(displayName)|\(tls.rawValue)|\(caFile ?? "-")|\(connectTimeout)|\(statementTimeout)|\(applicationName)|\(secret)"
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if isUnixSocket {
            let path = "\(host.hasSuffix("/") ? String(host.dropLast()) : host)/.s.PGSQL.\(port)"
            configuration = .init(unixSocketPath: path, username: user, password: password, database: database)
        } else {
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: try tlsConfiguration())
        }
        configuration.options.connectTimeout = .milliseconds(Int64((connectTimeout.seconds * 1000).rounded()))
        let milliseconds = Int(statementTimeout.seconds * 1000)
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", "\(milliseconds)"),
            ("application_name", applicationName),
        ]
        return configuration
    }

    private func tlsConfiguration() throws -> PostgresConnection.Configuration.TLS {
        var settings = TLSConfiguration.makeClientConfiguration()
        switch tls {
        case .disable:
            return .disable
        case .prefer, .require:
            // libpq's prefer/require encrypt but do not authenticate the server.
            settings.certificateVerification = .none
        case .verifyFull:
            settings.certificateVerification = .fullVerification
            if let caFile { settings.trustRoots = .file(caFile) }
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: settings)
        } catch {
            throw PluginError("TLS setup failed: \(error)", message: "cannot connect to \(displayName)")
        }
        return tls == .prefer ? .prefer(context) : .require(context)
    }
}
