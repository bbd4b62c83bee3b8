import Foundation

/// `GET /`: one self-contained HTML page (no external assets, no script), every job a row
/// coloured by its state, recent remediations below; it reloads itself every 10 seconds and
/// reads on a phone.
enum StatusPage {
    static func render(_ report: StatusReport, remediations: [RemediationRecord]) -> String {
        let now = report.generatedAt
        var rows = ""
        for job in report.jobs {
            rows += """
                <tr class="\(job.state)"><td class="name">\(escape(job.name))</td><td><span class="state">\(job.state)</span></td>\
                <td>\(job.lastRunAt.map { ago($0, now) + " ago" } ?? "–")</td><td class="message">\(escape(job.message ?? ""))</td>\
                <td class="flags">\(escape(job.flags.joined(separator: ", ")))</td></tr>

                """
        }
        var recent = ""
        for record in remediations {
            recent += """
                <tr><td>\(ago(record.startedAt, now)) ago</td><td>\(escape(record.rule))</td><td>\(escape(record.job))</td>\
                <td>\(escape(record.outcome.rawValue))\(record.verification.map { " · " + $0.rawValue } ?? "")</td>\
                <td class="message">\(escape(record.suppressedReason ?? record.message ?? ""))</td></tr>

                """
        }
        let host = escape(ProcessInfo.processInfo.hostName)
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="refresh" content="10"><title>Warden · \(host) · \(report.failing) failing</title>
            <style>
            body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
            header{padding:16px 20px;background:#1d2330;color:#fff}header h1{margin:0;font-size:20px}
            header p{margin:4px 0 0;opacity:.8}main{padding:12px 20px;max-width:1100px}
            table{width:100%;border-collapse:collapse;background:#fff;margin:12px 0 24px;box-shadow:0 1px 2px #0002}
            th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #eceef2;vertical-align:top}
            th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#667}
            .name{font-weight:600}.message{color:#445;word-break:break-word}.flags{color:#667;font-size:13px}
            .state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600;background:#e3e6eb}
            tr.ok .state{background:#d5f2dc;color:#14642b}tr.warning .state{background:#fff1c2;color:#7a5a00}
            tr.critical .state{background:#fbd5d5;color:#9b1c1c}tr.unknown .state{background:#ead9f7;color:#5b2a86}
            tr.critical td:first-child{border-left:4px solid #d33}tr.warning td:first-child{border-left:4px solid #e0a800}
            tr.unknown td:first-child{border-left:4px solid #8a4fbf}
            @media (max-width:640px){.flags,th:nth-child(5),.hide{display:none}td,th{padding:6px}}
            </style></head><body>
            <header><h1>Warden on \(host)</h1>
            <p>\(report.jobs.count) jobs · \(report.failing) failing · \(report.remediating) remediating · \(report.lastRunAt.map { "last run " + ago($0, now) + " ago" } ?? "no run yet") · \(ISOTime.string(now))</p></header>
            <main><table><thead><tr><th>Job</th><th>State</th><th>Last run</th><th>Message</th><th>Flags</th></tr></thead><tbody>
            \(rows)</tbody></table>
            <h2>Recent remediations</h2><table><thead><tr><th>When</th><th>Rule</th><th>Job</th><th>Outcome</th><th>Detail</th></tr></thead><tbody>
            \(recent.isEmpty ? "<tr><td colspan=\"5\">none</td></tr>" : recent)</tbody></table></main></body></html>

            """
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func ago(_ from: Date, _ to: Date) -> String {
        Duration.seconds(max(0, Int64(to.timeIntervalSince(from)))).wardenFormatted
    }
}
