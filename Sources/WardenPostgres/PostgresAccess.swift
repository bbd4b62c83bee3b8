import Foundation
import Logging
import PostgresNIO
import WardenPluginKit

/// What every Database plugin does first: read the connection parameters, take the pool for
/// that target, and run its queries with errors turned into clear results.
struct PostgresAccess: Sendable {
    let target: PostgresTarget
    let pool: PostgresPool
    let logger: Logger

    init(_ parameters: JSONObject, context: PluginContext) async throws {
        target = try PostgresConnectionParameters.target(parameters)
        pool = try await PostgresPool.shared(for: target, context: context)
        logger = context.logger
    }

    /// Runs `body` on a connection; `what` names the work in a failure ("listing sessions").
    /// `reusable: false` for work that changes the session (a SET) and must not leak into
    /// the next run.
    func run<Result: Sendable>(
        _ what: String, reusable: Bool = true,
        _ body: @Sendable (PostgresSessionQueries) async throws -> Result
    ) async throws -> Result {
        let logger = logger
        do {
            return try await pool.withConnection(reusable: reusable) { connection in
                try await body(PostgresSessionQueries(connection: connection, logger: logger))
            }
        } catch {
            throw PostgresFailure.querying(error, target: target, doing: what)
        }
    }
}

/// Queries on one leased connection, rows read by column name.
struct PostgresSessionQueries: Sendable {
    let connection: PostgresConnection
    let logger: Logger

    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in try await connection.query(query, logger: logger) {
            rows.append(row.makeRandomAccess())
        }
        return rows
    }

    func execute(_ query: PostgresQuery) async throws {
        _ = try await rows(query)
    }
}

extension PostgresRandomAccessRow {
    /// The column's value, nil for SQL NULL or a type the query did not promise.
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) -> T? {
        guard contains(column), self[column].bytes != nil else { return nil }
        return try? self[column].decode(T.self)
    }

    func string(_ column: String) -> String? { value(column, as: String.self) }
    func int(_ column: String) -> Int? { value(column, as: Int.self) }
    func double(_ column: String) -> Double? { value(column, as: Double.self) }
    func bool(_ column: String) -> Bool? { value(column, as: Bool.self) }
    func date(_ column: String) -> Date? { value(column, as: Date.self) }
    func ints(_ column: String) -> [Int] { value(column, as: [Int32].self)?.map(Int.init) ?? [] }

    // JSON forms for results: NULL stays null.
    func jsonString(_ column: String) -> JSONValue { string(column).map(JSONValue.string) ?? .null }
    func jsonInt(_ column: String) -> JSONValue { int(column).map(JSONValue.int) ?? .null }
    func jsonSeconds(_ column: String) -> JSONValue { .seconds(double(column)) }
    func jsonDate(_ column: String) -> JSONValue {
        date(column).map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null
    }
}

extension JSONValue {
    /// A duration in seconds for a result, to the millisecond; nil (SQL NULL) stays null.
    static func seconds(_ value: Double?) -> JSONValue {
        value.map { .double(($0 * 1000).rounded() / 1000) } ?? .null
    }
}

/// SQL text pieces that cannot be bound as parameters.
enum PostgresSQL {
    /// `"name"` with embedded quotes doubled: any text becomes one identifier, so nothing
    /// can be smuggled through a schema or table name.
    static func identifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
