import Foundation
import WardenPluginKit

/// A `notifiers:` entry: where notifications go and how.
public struct NotifierDefinition: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// POST of the event as JSON (docs/notifications.md), optionally signed with
        /// HMAC-SHA256 (`X-Warden-Signature: sha256=<hex>`).
        case webhook(url: String, headers: [String: String], signingSecret: String?)
        /// An incoming-webhook payload `{"text": …}` (Slack, Mattermost).
        case slack(url: String)
        /// Alertmanager's v2 API; a recovery sets `endsAt` so the alert resolves.
        case alertmanager(url: String)
        /// SMTP, one plain-text message per event.
        case email(SMTPSettings)
        /// A program given the event as JSON on stdin and `WARDEN_*` variables.
        case exec(command: String, arguments: [String])
    }

    public var name: String
    public var kind: Kind
    /// `{{ }}` template of the one-line text (slack, email subject and body, exec), or nil
    /// for the default per event.
    public var template: String?
    /// Values resolved from `${env:}`/`${file:}` in its settings: never stored or logged.
    public var secretValues: [String]

    public var typeName: String {
        switch kind {
        case .webhook: return "webhook"
        case .slack: return "slack"
        case .alertmanager: return "alertmanager"
        case .email: return "email"
        case .exec: return "exec"
        }
    }
}

public struct SMTPSettings: Sendable, Hashable {
    public enum Security: String, Sendable, Hashable {
        /// Plain connection upgraded with STARTTLS (port 587), required.
        case starttls
        /// TLS from the first byte (port 465).
        case tls
        /// No encryption: loopback relays only.
        case none
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    public var from: String
    public var to: [String]
}

/// Which events go where: a job's or rule's `notify:`, or `daemon.notify` for everything else.
public struct NotificationRoute: Sendable, Hashable {
    public var notifiers: [String]
    /// nil: every event.
    public var events: Set<NotificationEvent.Kind>?
    /// Job events below this severity are not sent (recoveries follow what was sent).
    public var minimumSeverity: Severity?
    /// Re-notify while a job stays failing (Monit's reminders).
    public var repeatEvery: Duration?

    public init(notifiers: [String], events: Set<NotificationEvent.Kind>? = nil, minimumSeverity: Severity? = nil, repeatEvery: Duration? = nil) {
        self.notifiers = notifiers
        self.events = events
        self.minimumSeverity = minimumSeverity
        self.repeatEvery = repeatEvery
    }

    public func wants(_ kind: NotificationEvent.Kind, severity: Severity?) -> Bool {
        if let events, !events.contains(kind) { return false }
        if let minimumSeverity, let severity, severity < minimumSeverity { return false }
        return true
    }
}

/// What a job's runs must do before people are told: Nagios's max_check_attempts.
public struct JobAlerting: Sendable, Hashable {
    /// Consecutive failing runs before the job counts as failing (and is notified).
    public var notifyAfter: Int = 1
    /// Consecutive ok runs before it counts as recovered.
    public var recoverAfter: Int = 1
    public var route: NotificationRoute?
    /// Set on each run: a maintenance window covering the job is active, so its failures are
    /// not told (and then neither is their recovery).
    public var muted = false

    public init(notifyAfter: Int = 1, recoverAfter: Int = 1, route: NotificationRoute? = nil) {
        self.notifyAfter = notifyAfter
        self.recoverAfter = recoverAfter
        self.route = route
    }
}
