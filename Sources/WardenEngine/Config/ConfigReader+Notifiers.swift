import Foundation
import WardenPluginKit
import Yams

extension ConfigReader {
    static let notifierKeys: [String: [String]] = [
        "webhook": ["name", "type", "url", "headers", "secret", "template"],
        "slack": ["name", "type", "url", "template"],
        "alertmanager": ["name", "type", "url"],
        "email": ["name", "type", "host", "port", "security", "username", "password", "from", "to", "template"],
        "exec": ["name", "type", "command", "args", "template"],
    ]
    static let routeKeys = ["to", "events", "min_severity", "repeat"]

    /// `notifiers:`, read before anything that routes to them.
    mutating func readNotifiers(_ node: Node) -> [NotifierDefinition] {
        guard case .sequence(let items) = node else {
            problem(at: node, "notifiers: expected a list of `{name, type, …}`, got \(describe(node))")
            return []
        }
        var notifiers: [NotifierDefinition] = []
        for item in items {
            guard let pairs = mapping(item, what: "a notifier") else { continue }
            guard let name = pairs.value(for: "name").flatMap({ string($0, what: "notifier name") }) else {
                problem(at: item, "a notifier needs a `name`")
                continue
            }
            let label = "notifier `\(ConfigReader.excerpt(name))`"
            guard PluginSpec.isValidName(name) else {
                problem(at: item, "invalid \(label) name: use lowercase letters, digits, `_`, `.` and `-`")
                continue
            }
            if notifiers.contains(where: { $0.name == name }) { problem(at: item, "\(label) is defined twice") }
            guard let typeNode = pairs.value(for: "type"), let type = string(typeNode, what: "\(label): type"),
                  let allowed = Self.notifierKeys[type] else {
                problem(at: pairs.value(for: "type") ?? item, "\(label): `type` must be one of \(Self.notifierKeys.keys.sorted().joined(separator: ", "))")
                continue
            }
            checkKeys(pairs, allowed: allowed, in: "a \(type) notifier")
            var secrets: [String] = []
            func text(_ key: String, required: Bool = true) -> String? {
                guard let value = pairs.value(for: key) else {
                    if required { problem(at: item, "\(label) needs `\(key)`") }
                    return nil
                }
                guard let raw = string(value, what: "\(label): \(key)") else { return nil }
                switch self.secrets.resolve(raw) {
                case .success(let resolved):
                    secrets += resolved.secrets
                    return resolved.text
                case .failure(let error):
                    problem(at: value, "\(label): \(key): \(error.description)")
                    return nil
                }
            }
            func url(_ key: String) -> String? {
                guard let text = text(key) else { return nil }
                guard let parsed = URL(string: text), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                    // The URL may be a secret (a Slack webhook): never quoted.
                    problem(at: pairs.value(for: key), "\(label): \(key): expected an http(s) URL")
                    return nil
                }
                return text
            }
            let kind: NotifierDefinition.Kind?
            switch type {
            case "webhook":
                var headers: [String: String] = [:]
                if let node = pairs.value(for: "headers"), let headerPairs = mapping(node, what: "\(label): headers") {
                    for (key, _, value) in headerPairs {
                        guard let raw = string(value, what: "\(label): headers.\(key)") else { continue }
                        switch self.secrets.resolve(raw) {
                        case .success(let resolved):
                            secrets += resolved.secrets
                            headers[key] = resolved.text
                        case .failure(let error):
                            problem(at: value, "\(label): headers.\(key): \(error.description)")
                        }
                    }
                }
                kind = url("url").map { .webhook(url: $0, headers: headers, signingSecret: text("secret", required: false)) }
            case "slack":
                kind = url("url").map { .slack(url: $0) }
            case "alertmanager":
                kind = url("url").map { .alertmanager(url: $0) }
            case "email":
                var port = 587
                if let node = pairs.value(for: "port"), let number = integer(node, what: "\(label): port", in: 1...65_535) { port = number }
                var security = SMTPSettings.Security.starttls
                if let node = pairs.value(for: "security"), let word = string(node, what: "\(label): security") {
                    if let parsed = SMTPSettings.Security(rawValue: word) { security = parsed } else {
                        problem(at: node, "\(label): security: expected starttls, tls or none, got `\(ConfigReader.excerpt(word))`")
                    }
                }
                let recipients = pairs.value(for: "to").flatMap { $0.string.map { [$0] } ?? stringList($0, what: "\(label): to") } ?? []
                if recipients.isEmpty { problem(at: item, "\(label) needs `to`: one or more addresses") }
                if let host = text("host"), let from = text("from") {
                    kind = .email(SMTPSettings(host: host, port: port, security: security, username: text("username", required: false),
                                               password: text("password", required: false), from: from, to: recipients))
                } else {
                    kind = nil
                }
            default:
                let arguments = pairs.value(for: "args").flatMap { stringList($0, what: "\(label): args") } ?? []
                if let command = text("command"), !command.hasPrefix("/") {
                    problem(at: pairs.value(for: "command"), "\(label): command must be an absolute path")
                    kind = nil
                } else {
                    kind = text("command", required: false).map { .exec(command: $0, arguments: arguments) }
                }
            }
            let template = pairs.value(for: "template").flatMap { string($0, what: "\(label): template") }
            if let kind {
                notifiers.append(NotifierDefinition(name: name, kind: kind, template: template, secretValues: secrets.filter { !$0.isEmpty }))
            }
        }
        return notifiers
    }

    /// `notify:` on the daemon, a job or a rule: a list of notifier names, or
    /// `{to: [...], events: [...], min_severity: warning, repeat: 1h}`.
    mutating func readRoute(_ node: Node, what: String, notifiers: [NotifierDefinition]) -> NotificationRoute? {
        var route = NotificationRoute(notifiers: [])
        var namesNode = node
        if case .mapping = node, let pairs = mapping(node, what: what) {
            checkKeys(pairs, allowed: Self.routeKeys, in: "`notify`")
            namesNode = pairs.value(for: "to") ?? Node.sequence(.init([]))
            if let events = pairs.value(for: "events") {
                var kinds = Set<NotificationEvent.Kind>()
                for word in events.string.map({ [$0] }) ?? stringList(events, what: "\(what).events") ?? [] {
                    if let kind = NotificationEvent.Kind(rawValue: word) { kinds.insert(kind) } else {
                        problem(at: events, "\(what).events: unknown event `\(ConfigReader.excerpt(word))`: expected any of \(NotificationEvent.Kind.allCases.filter { $0 != .test }.map(\.rawValue).joined(separator: ", "))")
                    }
                }
                route.events = kinds
            }
            if let value = pairs.value(for: "min_severity"), let word = string(value, what: "\(what).min_severity") {
                if let severity = Severity(rawValue: word) { route.minimumSeverity = severity } else {
                    problem(at: value, "\(what).min_severity: expected warning, critical or unknown")
                }
            }
            if let value = pairs.value(for: "repeat") {
                route.repeatEvery = duration(value, what: "\(what).repeat", positive: true)
            }
        }
        let names = namesNode.string.map { [$0] } ?? stringList(namesNode, what: what) ?? []
        for name in names where !notifiers.contains(where: { $0.name == name }) {
            let hint = NameSuggester.nearest(to: name, among: notifiers.map(\.name)).map { " — did you mean `\($0)`?" } ?? ""
            problem(at: namesNode, "\(what): unknown notifier `\(ConfigReader.excerpt(name))`\(hint) (define it under `notifiers:`)")
        }
        route.notifiers = names
        return route
    }
}

extension ConfigReader {
    /// `daemon.http: {listen: 127.0.0.1:9847 | /run/warden/http.sock, token: "${file:…}"}`.
    mutating func readHTTP(_ node: Node) -> HTTPSettings? {
        guard let pairs = mapping(node, what: "daemon.http") else { return nil }
        checkKeys(pairs, allowed: ["listen", "token"], in: "daemon.http")
        guard let listenNode = pairs.value(for: "listen"), let listen = string(listenNode, what: "daemon.http.listen") else {
            problem(at: node, "daemon.http needs `listen`: host:port (e.g. 127.0.0.1:9847) or a unix socket path")
            return nil
        }
        let address: HTTPSettings.Address
        if listen.hasPrefix("/") {
            address = .unixSocket(path: listen)
        } else if let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (1...65_535).contains(port) {
            var host = String(listen[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            address = .tcp(host: host.isEmpty ? "0.0.0.0" : host, port: port)
        } else {
            problem(at: listenNode, "daemon.http.listen: expected host:port (e.g. 127.0.0.1:9847) or an absolute unix socket path, got `\(ConfigReader.excerpt(listen))`")
            return nil
        }
        var token: String?
        if let value = pairs.value(for: "token"), let raw = string(value, what: "daemon.http.token") {
            switch secrets.resolve(raw) {
            case .success(let resolved): token = resolved.text
            case .failure(let error): problem(at: value, "daemon.http.token: \(error.description)")
            }
        }
        if !address.isLocal && token == nil {
            warnings.append(ConfigProblem(location: location(of: listenNode), message: "daemon.http listens on \(address) without a token: anyone who can reach it reads the status and history; set `token:`"))
        }
        return HTTPSettings(address: address, token: token)
    }
}
