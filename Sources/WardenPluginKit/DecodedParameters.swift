import Synchronization

/// Parameters already decoded, by type and value: a job hands its plugin the same validated
/// parameters every run, and decoding them again was 5 % of an HTTP check's instructions
/// (hashing and comparing them is a tenth of that). Bounded, because remediation steps can
/// render different parameters every run: a full cache starts over.
final class DecodedParameters: Sendable {
    static let shared = DecodedParameters(capacity: 4096)

    private struct Key: Hashable {
        let type: ObjectIdentifier
        let parameters: JSONObject
    }

    private let capacity: Int
    private let entries = Mutex<[Key: any Sendable]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func value<Parameters: Decodable & Sendable>(
        _ type: Parameters.Type, of parameters: JSONObject, decode: () throws -> Parameters
    ) rethrows -> Parameters {
        let key = Key(type: ObjectIdentifier(type), parameters: parameters)
        if let cached = entries.withLock({ $0[key] }) as? Parameters { return cached }
        // Decoded outside the lock; a failure is not cached, so it is reported every run.
        let value = try decode()
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = value
        }
        return value
    }

    var count: Int { entries.withLock(\.count) }
}
