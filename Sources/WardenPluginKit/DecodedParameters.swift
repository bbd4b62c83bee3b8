import Synchronization

/// Parameters already decoded, by type and value: a job hands its plugin the same validated
/// parameters every run, and decoding them again was 5 % of an HTTP check's instructions
/// (hashing and comparing them is a tenth of that). Bounded, because remediation steps can
/// render different parameters every run: a full cache drops what was not used since it was
/// last full (a second chance), so every job's parameters stay while one-off renderings go.
/// Starting over instead made a daemon with more jobs than the capacity decode on every run.
final class DecodedParameters: Sendable {
    /// Above any job count a host runs (the benchmarks go to 10,000 jobs).
    static let shared = DecodedParameters(capacity: 16_384)

    private struct Key: Hashable {
        let type: ObjectIdentifier
        let parameters: JSONObject
    }

    private struct Entry {
        let value: any Sendable
        /// Looked up since the cache was last full.
        var used: Bool
    }

    private let capacity: Int
    private let entries = Mutex<[Key: Entry]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func value<Parameters: Decodable & Sendable>(
        _ type: Parameters.Type, of parameters: JSONObject, decode: () throws -> Parameters
    ) rethrows -> Parameters {
        let slot = ParameterSlot.current
        if let slot, let kept = slot.value(type, of: parameters) { return kept }
        let value = try cachedValue(type, of: parameters, decode: decode)
        slot?.keep(value, of: parameters)
        return value
    }

    private func cachedValue<Parameters: Decodable & Sendable>(
        _ type: Parameters.Type, of parameters: JSONObject, decode: () throws -> Parameters
    ) rethrows -> Parameters {
        let key = Key(type: ObjectIdentifier(type), parameters: parameters)
        let cached = entries.withLock { entries -> (any Sendable)? in
            guard let index = entries.index(forKey: key) else { return nil }
            entries.values[index].used = true
            return entries.values[index].value
        }
        if let cached = cached as? Parameters { return cached }
        // Decoded outside the lock; a failure is not cached, so it is reported every run.
        let value = try decode()
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter(\.value.used).mapValues { Entry(value: $0.value, used: false) }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(value: value, used: false)
        }
        return value
    }

    var count: Int { entries.withLock(\.count) }
}

/// One job's parameters as its plugin last decoded them, kept with the job between its runs:
/// the shared cache hashes the whole parameters object to find them, half of what decoding a
/// check's parameters still cost. A run binds its job's slot (`withCurrent`); the slot answers
/// only for the same type and equal parameters (the job's own are the same storage, compared
/// at once), so a plugin decoding other objects, or a job reloaded with new parameters, reads
/// through to the shared cache.
public final class ParameterSlot: Sendable {
    private struct Kept {
        let type: ObjectIdentifier
        let parameters: JSONObject
        /// A `Box<type>`: read back without a dynamic cast (an existential's was most of a hit).
        let box: any AnyObject & Sendable
    }

    private final class Box<Value: Sendable>: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    @TaskLocal static var current: ParameterSlot?

    private let kept = Mutex<Kept?>(nil)

    public init() {}

    /// Runs `body` with this slot answering the parameters decoded in it.
    public func withCurrent<Result>(_ body: () async -> Result, isolation: isolated (any Actor)? = #isolation) async -> Result {
        await Self.$current.withValue(self, operation: body, isolation: isolation)
    }

    func value<Parameters: Sendable>(_ type: Parameters.Type, of parameters: JSONObject) -> Parameters? {
        let box = kept.withLock { kept -> (any AnyObject & Sendable)? in
            guard let kept, kept.type == ObjectIdentifier(type), kept.parameters == parameters else { return nil }
            return kept.box
        }
        // The type was checked with the box: it is a `Box<Parameters>`.
        return box.map { unsafeDowncast($0, to: Box<Parameters>.self).value }
    }

    func keep<Parameters: Sendable>(_ value: Parameters, of parameters: JSONObject) {
        let kept = Kept(type: ObjectIdentifier(Parameters.self), parameters: parameters, box: Box(value))
        self.kept.withLock { $0 = kept }
    }
}
