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
