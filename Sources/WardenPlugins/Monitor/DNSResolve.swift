import Dispatch
import Foundation
import WardenPluginKit

/// Resolve a name through the system resolver (getaddrinfo: /etc/hosts, DNS, nsswitch).
public struct DNSResolvePlugin: Plugin {
    public let spec = PluginSpec(
        name: "dns_resolve",
        description: "Resolve a host name through the system resolver; optionally require expected addresses.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "name": ["type": "string", "description": "The name to resolve.", "minLength": 1, "maxLength": 253],
                "family": ["type": "string", "description": "Address family to ask for.", "enum": ["any", "ipv4", "ipv6"], "default": "any"],
                "expected": [
                    "type": "array", "description": "Addresses that must all be among the answers (optional).",
                    "items": ["type": "string"], "minItems": 1,
                ],
            ],
            "required": ["name"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let name = try parameters.required("name", \.stringValue)
        let family: Int32
        switch parameters["family"]?.stringValue {
        case "ipv4": family = AF_INET
        case "ipv6": family = AF_INET6
        default: family = AF_UNSPEC
        }
        let started = ContinuousClock.now
        // getaddrinfo blocks: it runs on a Dispatch thread, never on the task pool; the
        // engine's deadline bounds how long the run waits for it.
        let outcome: Result<[String], ResolveError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Self.resolve(name, family: family)) }
        }
        let elapsed = ContinuousClock.now - started
        let seconds = elapsed.seconds
        switch outcome {
        case .failure(let error):
            throw PluginError(error.message, message: "cannot resolve \(name)", retry: error.transient)
        case .success(let addresses):
            let data: JSONValue = ["name": .string(name), "addresses": .array(addresses.map(JSONValue.string)), "resolve_time": .double(seconds)]
            let summary = "\(name) → \(addresses.joined(separator: ", "))"
            let expected = parameters["expected"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let missing = expected.filter { !addresses.contains($0) }
            guard missing.isEmpty else {
                return PluginResult(success: false, data: data, message: summary, error: "expected \(missing.joined(separator: ", ")) among the answers")
            }
            return .ok(data, message: summary)
        }
    }

    struct ResolveError: Error {
        var message: String
        var transient: Bool
    }

    static func resolve(_ name: String, family: Int32) -> Result<[String], ResolveError> {
        var hints = addrinfo()
        hints.ai_family = family
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &list)
        guard status == 0 else {
            // EAI_AGAIN is a temporary resolver failure; NONAME is an answer.
            return .failure(ResolveError(message: String(cString: gai_strerror(status)), transient: status == EAI_AGAIN))
        }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var cursor = list
        while let entry = cursor?.pointee {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.ai_addr, entry.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let address = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(address) { addresses.append(address) }
            }
            cursor = entry.ai_next
        }
        return .success(addresses.sorted())
    }
}
