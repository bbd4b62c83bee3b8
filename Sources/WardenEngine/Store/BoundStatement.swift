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
    /// The first binding SQLite refused (text too long, out of memory): the statement is not
    /// run with a NULL in its place, its execution throws.
    private var refused: Int32 = SQLITE_OK

    init(_ statement: Statement, in database: Database) {
        self.statement = statement
        self.database = database
    }

    private var handle: SQLiteStatement { statement.sqliteStatement }

    mutating func bind(_ value: Int64) {
        bound(sqlite3_bind_int64(handle, next, value))
    }

    mutating func bind(_ value: Int) { bind(Int64(value)) }

    mutating func bind(_ value: Bool) { bind(Int64(value ? 1 : 0)) }

    mutating func bind(_ value: Double) {
        bound(sqlite3_bind_double(handle, next, value))
    }

    mutating func bind(_ value: String) {
        var text = value
        // With its length, so that text holding a NUL is stored whole; SQLITE_TRANSIENT:
        // SQLite copies it before this call returns.
        let code = text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                guard let start = chars.baseAddress else { return sqlite3_bind_text(handle, next, "", 0, Self.transient) }
                guard let length = Int32(exactly: chars.count) else { return SQLITE_TOOBIG }
                return sqlite3_bind_text(handle, next, start, length, Self.transient)
            }
        }
        bound(code)
    }

    mutating func bind(_ value: Int64?) { if let value { bind(value) } else { bindNull() } }
    mutating func bind(_ value: Double?) { if let value { bind(value) } else { bindNull() } }
    mutating func bind(_ value: String?) { if let value { bind(value) } else { bindNull() } }

    mutating func bindNull() {
        bound(sqlite3_bind_null(handle, next))
    }

    private mutating func bound(_ code: Int32) {
        if code != SQLITE_OK && refused == SQLITE_OK { refused = code }
        next += 1
    }

    /// Runs a statement that returns no row.
    consuming func step() throws {
        defer { reset() }
        guard refused == SQLITE_OK else { throw failure(refused) }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else { throw failure(code) }
    }

    /// Runs a query and reads its first row, if any.
    consuming func firstRow<T>(_ read: (Columns) -> T) throws -> T? {
        defer { reset() }
        guard refused == SQLITE_OK else { throw failure(refused) }
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return read(Columns(handle: handle))
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

    /// The current row's columns, by index in the query's SELECT list.
    struct Columns {
        fileprivate let handle: SQLiteStatement

        func text(_ index: Int32) -> String? {
            guard sqlite3_column_type(handle, index) != SQLITE_NULL, let text = sqlite3_column_text(handle, index) else { return nil }
            return String(cString: text)
        }

        func integer(_ index: Int32) -> Int64? {
            sqlite3_column_type(handle, index) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, index)
        }
    }
}
