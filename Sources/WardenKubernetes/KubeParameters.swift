import Foundation
import WardenPluginKit

/// Parameters every Kubernetes plugin shares, and the naming rules the API enforces, checked
/// by the schema so a bad name is refused at config load or before any request.
enum KubeParameters {
    /// RFC 1123 label: namespaces (and Services).
    static let labelPattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    /// RFC 1123 subdomain: Pods, Deployments, Nodes.
    static let subdomainPattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

    static let connection: JSONObject = [
        "kubeconfig": ["type": "string", "minLength": 1, "description": "Path of a kubeconfig; default KUBECONFIG, then ~/.kube/config, then the in-cluster service account."],
        "context": ["type": "string", "minLength": 1, "description": "kubeconfig context to use; default its current-context."],
        "timeout": JSONSchema.duration("How long each API request may take.", default: 30, maximum: 600),
    ]

    static let namespace: JSONObject = [
        "namespace": [
            "type": "string", "pattern": .string(labelPattern), "maxLength": 63,
            "description": "Namespace (a DNS label); default the context's namespace, else `default`.",
        ],
    ]

    static func objectName(_ what: String) -> JSONValue {
        ["type": "string", "pattern": .string(subdomainPattern), "maxLength": 253, "description": .string("\(what) (a DNS subdomain name).")]
    }

    static let rollout: JSONObject = [
        "wait": ["type": "boolean", "default": false, "description": "Wait for the rollout to complete and report the final replica counts."],
        "wait_timeout": JSONSchema.duration("How long to wait for the rollout (bounded by the run's timeout).", default: 300, maximum: 3600),
    ]

    static func properties(_ own: JSONObject, namespaced: Bool = true) -> JSONValue {
        var all = own.merging(connection) { mine, _ in mine }
        if namespaced { all.merge(namespace) { mine, _ in mine } }
        return .object(all)
    }

    /// `2h`, `5m`, `30s` of an age given in seconds.
    static func age(since timestamp: String?, now: Date = Date()) -> JSONValue {
        guard let timestamp, let date = ISO8601DateFormatter().date(from: timestamp) else { return .null }
        return .int(max(0, Int(now.timeIntervalSince(date))))
    }

    static func encode(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }
}
