import NIOCore
import PostgresNIO
import WardenPluginKit

/// Turns postgres-nio's errors into results an operator can act on: what happened, in
/// PostgreSQL's own words where it said something, and whether retrying can help (a refused
/// port or a server starting up may; a wrong password or a missing table will not).
enum PostgresFailure {
    static func connecting(_ error: any Error, target: PostgresTarget) -> any Error {
        if error is CancellationError { return error }
        let (reason, retry) = describe(error, target: target)
        return PluginError(reason, message: "cannot connect to PostgreSQL at \(target.displayName)", retry: retry)
    }

    static func querying(_ error: any Error, target: PostgresTarget, doing what: String) -> any Error {
        if error is CancellationError || error is PluginError { return error }
        let (reason, retry) = describe(error, target: target)
        return PluginError(reason, message: "\(what) failed on \(target.displayName)", retry: retry)
    }

    /// The reason and whether a retry may succeed.
    static func describe(_ error: any Error, target: PostgresTarget) -> (String, Bool) {
        guard let error = error as? PSQLError else { return (String(describing: error), false) }
        switch error.code {
        case .server:
            return server(error, target: target)
        case .connectionError:
            let underlying = error.underlying.map { String(describing: $0) } ?? ""
            let lowercased = underlying.lowercased()
            if lowercased.contains("connecttimeout") || lowercased.contains("connect timeout") || lowercased.contains("timed out") {
                return ("no answer within \(target.connectTimeout.formattedSeconds) (connect_timeout)", true)
            }
            if underlying.contains("refused") || underlying.contains("ECONNREFUSED") {
                return ("connection refused", true)
            }
            if lowercased.contains("handshake") || lowercased.contains("certificate") || lowercased.contains("ssl") {
                return ("TLS handshake failed (tls: \(target.tls.rawValue)): \(underlying)", false)
            }
            if target.isUnixSocket, underlying.contains("No such file") || underlying.contains("ENOENT") {
                return ("no server socket in \(target.host) for port \(target.port)", true)
            }
            return ("connection error: \(underlying)", true)
        case .serverClosedConnection, .uncleanShutdown:
            return ("the server closed the connection", true)
        case .sslUnsupported:
            return ("the server does not offer TLS (tls: \(target.tls.rawValue))", false)
        case .authMechanismRequiresPassword:
            return ("the server asks for a password and none was given (set `password`)", false)
        case .unsupportedAuthMechanism:
            return ("the server asks for an authentication method postgres-nio does not speak", false)
        case .saslError:
            return ("SCRAM authentication failed: \(error.underlying.map { String(describing: $0) } ?? "")", false)
        case .queryCancelled:
            return ("the query was cancelled", true)
        default:
            return (String(reflecting: error), false)
        }
    }

    private static func server(_ error: PSQLError, target: PostgresTarget) -> (String, Bool) {
        let info = error.serverInfo
        let state = info?[.sqlState] ?? ""
        var text = info?[.message] ?? "server error"
        if let detail = info?[.detail] { text += " (\(detail))" }
        if let hint = info?[.hint] { text += "; hint: \(hint)" }
        switch state {
        case "57014":
            return ("statement timeout: the query ran longer than \(target.statementTimeout.formattedSeconds) (\(text))", true)
        case "28P01", "28000":
            return ("authentication failed: \(text)", false)
        case "53300", "57P01", "57P02", "57P03", "40P01", "40001":
            return ("\(text) [SQLSTATE \(state)]", true)
        case _ where state.hasPrefix("08"):
            return ("\(text) [SQLSTATE \(state)]", true)
        default:
            return ("\(text) [SQLSTATE \(state)]", false)
        }
    }
}
