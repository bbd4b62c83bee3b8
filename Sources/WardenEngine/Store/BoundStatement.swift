import GRDB
import GRDBSQLite

/// One execution of a cached GRDB statement with its values bound through SQLite's C API.
///
/// For the writer's per-run statements only: GRDB's `StatementArguments` box every value as
/// an existential and bind strings through nested closures, a fifth of what storing a run cost
/// (callgrind, BENCHMARKS.md). Values are bound in order; `step` runs the statement, resets it
/// and clears its bindings, so the next execution starts from nothing. Errors are GRDB's own
/// `DatabaseError`, as `Statement.execute` throws them (the storage-fault handling reads
/// their result codes).
struct BoundStatement: ~Copyable {
    private let statement: Statement
    private let database: Database
    private var next: Int32 = 1

    init(_ statement: Statement, in database: Database) {
        self.statement = statement
        self.database = database
    }

    private var handle: SQLiteStatement { statement.sqliteStatement }

    mutating func bind(_ value: Int64) {
        sqlite3_bind_int64(handle, next, value)
        next += 1
    }

    mutating func bind(_ value: Int) { bind(Int64(value)) }

    mutating func bind(_ value: Bool) { bind(Int64(value ? 1 : 0)) }

    mutating func bind(_ value: Double) {
        sqlite3_bind_double(handle, next, value)
        next += 1
    }

    mutating func bind(_ value: String) {
        var text = value
        // With its length, so that text holding a NUL is stored whole; SQLITE_TRANSIENT:
        // SQLite copies it before this call returns.
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                if let start = chars.baseAddress {
                    _ = sqlite3_bind_text(handle, next, start, Int32(chars.count), Self.transient)
                } else {
                    _ = sqlite3_bind_text(handle, next, "", 0, Self.transient)
                }
            }
        }
        next += 1
    }

    mutating func bind(_ value: Int64?) { if let value { bind(value) } else { bindNull() } }
    mutating func bind(_ value: Double?) { if let value { bind(value) } else { bindNull() } }
    mutating func bind(_ value: String?) { if let value { bind(value) } else { bindNull() } }

    mutating func bindNull() {
        sqlite3_bind_null(handle, next)
        next += 1
    }

    /// Runs a statement that returns no row.
    consuming func step() throws {
        defer { reset() }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw failure(code) }
    }

    /// Runs a query and reads its first row, if any.
    consuming func firstRow<T>(_ read: (SQLiteStatement) -> T) throws -> T? {
        defer { reset() }
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return read(handle)
        case SQLITE_DONE: return nil
        case let code: throw failure(code)
        }
    }

    private func failure(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: database.lastErrorMessage, sql: statement.sql)
    }

    private func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
