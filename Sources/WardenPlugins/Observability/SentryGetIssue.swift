import Foundation
import WardenPluginKit

/// One Sentry issue: title, status, level, counts, first and last seen. The token comes from
/// the environment (`SENTRY_TOKEN`), never from parameters or the config.
public struct SentryGetIssuePlugin: Plugin {
    public let spec = PluginSpec(
        name: "sentry.get_issue",
        description: "Read a Sentry issue (title, status, level, event and user counts, first/last seen); token from SENTRY_TOKEN.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "issue_id": ["type": "string", "description": "The issue's id.", "pattern": "^[0-9]+$"],
                "url": ["type": "string", "description": "Sentry base URL (default from SENTRY_URL, else https://sentry.io).", "pattern": "^https?://"],
                "timeout": JSONSchema.duration("How long the request may take.", default: 10, maximum: 300),
            ],
            "required": ["issue_id"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let id = try parameters.required("issue_id", \.stringValue)
        let base = parameters["url"]?.stringValue ?? context.environment["SENTRY_URL"] ?? "https://sentry.io"
        guard let token = context.environment["SENTRY_TOKEN"], !token.isEmpty else {
            throw PluginError("SENTRY_TOKEN is not set", message: "sentry.get_issue needs an auth token in SENTRY_TOKEN")
        }
        let timeout = try parameters.duration("timeout")
        let answer = try await ObservabilityAPI.getJSON(
            ObservabilityAPI.url(base, "/api/0/issues/\(id)/", []), headers: ["Authorization": "Bearer \(token)"], timeout: timeout, context: context
        )
        guard answer.status == 200 else {
            let detail = answer.body["detail"]?.stringValue ?? "HTTP \(answer.status)"
            // The token is never echoed: Sentry's detail text does not contain it, and the
            // engine scrubs secrets from results anyway.
            throw PluginError("\(detail) (HTTP \(answer.status))".redactingOccurrences(of: [token]), message: "cannot read Sentry issue \(id)",
                              retry: answer.status >= 500 || answer.status == 429)
        }
        let issue = answer.body
        let data: JSONValue = [
            "id": issue["id"] ?? .string(id), "short_id": issue["shortId"] ?? .null, "title": issue["title"] ?? .null,
            "culprit": issue["culprit"] ?? .null, "status": issue["status"] ?? .null, "level": issue["level"] ?? .null,
            "count": .int(Int(issue["count"]?.stringValue ?? "") ?? issue["count"]?.intValue ?? 0),
            "user_count": issue["userCount"] ?? .null, "first_seen": issue["firstSeen"] ?? .null,
            "last_seen": issue["lastSeen"] ?? .null, "permalink": issue["permalink"] ?? .null,
        ]
        let status = issue["status"]?.stringValue ?? "?"
        return .ok(data, message: "\(issue["shortId"]?.stringValue ?? id): \(issue["title"]?.stringValue ?? "") [\(status), \(data["count"]?.intValue ?? 0) events]")
    }
}
