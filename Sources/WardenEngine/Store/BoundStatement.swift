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
///
/// Text is bound as the statement runs, where the String keeps it, without a copy of SQLite's
/// own (`SQLITE_STATIC`): bound `SQLITE_TRANSIENT`, each text was a `malloc` and a `free` in
/// SQLite, eleven per stored run (callgrind). The statement is reset, its bindings cleared,
/// while every text is still in reach.
struct BoundStatement: ~Copyable {
    private let statement: Statement
    private let database: Database
    private var next: Int32 = 1
    /// The first binding SQLite refused (text too long, out of memory): the statement is not
    /// run with a NULL in its place, its execution throws.
    private var refused: Int32 = SQLITE_OK
    /// The texts to bind when the statement runs, with their parameters' indexes.
    private var texts: [(index: Int32, text: String)] = []

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

    /// Bound with its length when the statement runs, so that text holding a NUL is stored whole.
    mutating func bind(_ value: String) {
        if texts.isEmpty { texts.reserveCapacity(8) }
        texts.append((next, value))
        next += 1
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
        try execute { handle in
            let code = sqlite3_step(handle)
            guard code == SQLITE_DONE else { throw failure(code) }
        }
    }

    /// Runs a query and reads its first row, if any.
    consuming func firstRow<T>(_ read: (Columns) -> T) throws -> T? {
        try execute { handle in
            switch sqlite3_step(handle) {
            case SQLITE_ROW: return read(Columns(handle: handle))
            case SQLITE_DONE: return nil
            case let code: throw failure(code)
            }
        }
    }

    /// Binds the texts, runs `body`, and resets the statement (its bindings cleared) while the
    /// texts' storage is still lent to SQLite.
    private func execute<T>(_ body: (SQLiteStatement) throws -> T) throws -> T {
        guard refused == SQLITE_OK else { throw failed(refused) }
        return try bindingTexts(from: 0, then: body)
    }

    /// Binds `texts[position...]`, each inside the one before it (a String lends its bytes
    /// only for the length of a closure), then runs `body` innermost and resets there.
    private func bindingTexts<T>(from position: Int, then body: (SQLiteStatement) throws -> T) throws -> T {
        guard position < texts.count else {
            defer { reset() }
            return try body(handle)
        }
        var text = texts[position].text
        return try text.withUTF8 { bytes in
            // Never a null pointer, which SQLite would store as NULL instead of empty text.
            try bytes.withMemoryRebound(to: CChar.self) { chars in
                let start = chars.baseAddress ?? Self.emptyText
                guard let length = Int32(exactly: chars.count) else { throw failed(SQLITE_TOOBIG) }
                // No destructor (SQLITE_STATIC): SQLite reads the text in place until the reset.
                let code = sqlite3_bind_text(handle, texts[position].index, start, length, nil)
                guard code == SQLITE_OK else { throw failed(code) }
                return try bindingTexts(from: position + 1, then: body)
            }
        }
    }

    /// What an empty text points at: one NUL, never freed.
    private nonisolated(unsafe) static let emptyText: UnsafePointer<CChar> = {
        let byte = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        byte.initialize(to: 0)
        return UnsafePointer(byte)
    }()

    private func failure(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: database.lastErrorMessage, sql: statement.sql)
    }

    /// The error for `code`, read before the statement is reset (which rewrites SQLite's
    /// message), then the reset: for a statement that is not run.
    private func failed(_ code: Int32) -> DatabaseError {
        let error = failure(code)
        reset()
        return error
    }

    private func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

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
