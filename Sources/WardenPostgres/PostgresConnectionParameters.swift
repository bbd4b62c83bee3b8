import Foundation
import WardenPluginKit

/// The connection parameters every Database plugin takes, merged into each plugin's schema
/// (one definition, so the eight plugins cannot drift apart), and their reading into a
/// `PostgresTarget`.
enum PostgresConnectionParameters {
    static let schema: JSONObject = [
        "dsn": [
            "type": "string", "pattern": "^postgres(ql)?://", "maxLength": 2048,
            "x-secret-url-password": true,
            "description": "A libpq URL, postgres://user:password@host:port/database?sslmode=…&sslrootcert=…&connect_timeout=…&host=/socket/dir. Its password is redacted wherever it is shown. Excludes host, port, database and user.",
        ],
        "host": [
            "type": "string", "minLength": 1, "maxLength": 1024,
            "description": "Server host name or address, or a unix-socket directory (a path, e.g. /var/run/postgresql). Default /var/run/postgresql.",
        ],
        "port": ["type": "integer", "minimum": 1, "maximum": 65535, "description": "Server port (also names the socket file in a socket directory). Default 5432."],
        "database": ["type": "string", "minLength": 1, "maxLength": 63, "description": "Database to connect to. Default postgres."],
        "user": ["type": "string", "minLength": 1, "maxLength": 63, "description": "Role to connect as. Default postgres."],
        "password": [
            "type": "string", "writeOnly": true, "maxLength": 1024,
            "description": "Password (write ${env:NAME} or ${file:/path}); never stored or logged.",
        ],
        "tls": [
            "type": "string", "enum": ["disable", "prefer", "require", "verify-full"],
            "description": "TLS over TCP, with libpq's meanings: prefer and require encrypt without checking the certificate; verify-full checks it against ca_file and the host name. Default prefer (disable on a unix socket).",
        ],
        "ca_file": ["type": "string", "minLength": 1, "description": "PEM file of the CA that signed the server's certificate (verify-full); default the system trust store."],
        "connect_timeout": JSONSchema.duration("How long connecting may take, including TLS and authentication. Default 5s.", maximum: 300),
        "statement_timeout": JSONSchema.duration("How long any one query may run on the server (set as the session's statement_timeout).", default: 10, maximum: 3600),
    ]

    /// The plugin's own properties with the connection ones added.
    static func properties(_ own: JSONObject) -> JSONValue {
        .object(own.merging(schema) { mine, _ in mine })
    }

    /// The target these parameters name; a clear error for contradictions a schema cannot
    /// express (a dsn together with host, a malformed dsn).
    static func target(_ parameters: JSONObject) throws -> PostgresTarget {
        var target = PostgresTarget()
        var sslMode: String?
        var caFile: String?
        var connectTimeout: Double?

        if let dsn = parameters["dsn"]?.stringValue {
            let clashing = ["host", "port", "database", "user"].filter { parameters[$0] != nil }
            guard clashing.isEmpty else {
                throw PluginError(
                    "`dsn` and \(clashing.map { "`\($0)`" }.joined(separator: ", ")) both name the server; give one or the other",
                    message: "contradictory connection parameters")
            }
            let parsed = try PostgresDSN(dsn)
            if let host = parsed.host { target.host = host }
            if let port = parsed.port { target.port = port }
            if let database = parsed.database { target.database = database }
            if let user = parsed.user { target.user = user }
            target.password = parsed.password
            sslMode = parsed.options["sslmode"]
            caFile = parsed.options["sslrootcert"]
            connectTimeout = parsed.options["connect_timeout"].flatMap(Double.init)
            if let name = parsed.options["application_name"] { target.applicationName = name }
        } else {
            if let host = parameters["host"]?.stringValue { target.host = host }
            if let port = parameters["port"]?.intValue { target.port = port }
            if let database = parameters["database"]?.stringValue { target.database = database }
            if let user = parameters["user"]?.stringValue { target.user = user }
        }
        if let password = parameters["password"]?.stringValue { target.password = password }
        if let mode = parameters["tls"]?.stringValue { sslMode = mode }
        if let file = parameters["ca_file"]?.stringValue { caFile = file }
        if let seconds = parameters["connect_timeout"]?.doubleValue { connectTimeout = seconds }

        switch sslMode {
        case nil: target.tls = target.isUnixSocket ? .disable : .prefer
        case "disable", "allow": target.tls = .disable
        case "prefer": target.tls = .prefer
        case "require", "verify-ca": target.tls = .require
        case "verify-full": target.tls = .verifyFull
        case let other?:
            throw PluginError("sslmode `\(other)` is not one of disable, prefer, require, verify-full", message: "bad dsn")
        }
        target.caFile = caFile
        if let connectTimeout, connectTimeout > 0 { target.connectTimeout = .milliseconds(Int64(connectTimeout * 1000)) }
        if let seconds = parameters["statement_timeout"]?.doubleValue, seconds > 0 {
            target.statementTimeout = .milliseconds(Int64(seconds * 1000))
        }
        return target
    }
}

/// A `postgres://` URL read the way libpq reads it (the parts Warden uses).
struct PostgresDSN {
    var host: String?
    var port: Int?
    var database: String?
    var user: String?
    var password: String?
    var options: [String: String] = [:]

    init(_ text: String) throws {
        // A socket directory may sit percent-encoded in the host part
        // (postgres://%2Fvar%2Frun%2Fpostgresql/db), which URLComponents refuses as a host.
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              scheme == "postgres" || scheme == "postgresql"
        else {
            throw PluginError("`dsn` is not a postgres:// URL", message: "bad dsn")
        }
        if let encodedHost = components.percentEncodedHost, !encodedHost.isEmpty {
            host = encodedHost.removingPercentEncoding ?? encodedHost
        }
        port = components.port
        user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        password = components.password
        let path = components.path.drop(while: { $0 == "/" })
        if !path.isEmpty { database = String(path) }
        for item in components.queryItems ?? [] {
            guard let value = item.value else { continue }
            switch item.name {
            case "host": host = value
            case "port": port = Int(value)
            case "dbname": database = value
            case "user": user = value
            case "password": password = value
            default: options[item.name] = value
            }
        }
    }
}
