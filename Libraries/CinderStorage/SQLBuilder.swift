import PostgresNIO

/// Builds a parameterized statement piece by piece (for optional filters).
struct SQLBuilder {
    var sql = ""
    var binds = PostgresBindings()

    /// Binds a value and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// Binds a value or SQL NULL and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
        guard let value else {
            binds.appendNull()
            return "$\(binds.count)"
        }
        return bind(value)
    }

    mutating func append(_ fragment: String) { sql += fragment }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }

    /// Bindings for a statement whose SQL text is assembled (a shared column list), in `$n` order.
    static func binds(_ values: (any PostgresDynamicTypeEncodable)?...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values {
            if let value { binds.append(value) } else { binds.appendNull() }
        }
        return binds
    }
}

/// SQL for a timestamptz column as microseconds since the epoch (exact on PostgreSQL 14+, where
/// `extract` returns numeric; Cinder requires 14+ anyway, for lz4 compression).
func micros(_ column: String) -> String { "(extract(epoch FROM \(column)) * 1000000)::int8" }

/// SQL for microseconds since the epoch as a timestamptz.
func timestamp(_ placeholder: String) -> String { "(to_timestamp(0) + \(placeholder)::int8 * interval '1 microsecond')" }

extension AsyncSequence {
    /// Gathers a (small, bounded) result set into an array.
    func all() async throws -> [Element] {
        var out: [Element] = []
        for try await element in self { out.append(element) }
        return out
    }
}
