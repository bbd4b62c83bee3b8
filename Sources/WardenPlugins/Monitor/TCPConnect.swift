import AsyncHTTPClient
import NIOCore
import NIOPosix
import WardenPluginKit
import WardenPluginSupport

/// Can a TCP connection be opened, and how fast (a port check without a protocol).
public struct TCPConnectPlugin: Plugin {
    public let spec = PluginSpec(
        name: "tcp_connect",
        description: "Open a TCP connection to host:port and report the connect time; fails when refused or too slow.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "host": ["type": "string", "description": "Host name or address.", "minLength": 1, "maxLength": 253],
                "port": ["type": "integer", "description": "TCP port.", "minimum": 1, "maximum": 65535],
                "timeout": JSONSchema.duration("How long to wait for the connection.", default: 5, maximum: 300),
            ],
            "required": ["host", "port"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let host = try parameters.required("host", \.stringValue)
        let port = try parameters.required("port", \.intValue)
        let timeout = try parameters.duration("timeout")
        let target = "\(host):\(port)"
        let started = ContinuousClock.now
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: context.httpClient.eventLoopGroup)
                .connectTimeout(TimeAmount(timeout))
                .connect(host: host, port: port).get()
        } catch {
            let text = String(describing: error)
            let refused = text.contains("refused") || text.contains("ECONNREFUSED")
            let timedOut = text.contains("connectTimeout") || text.contains("timed out")
            throw PluginError(
                refused ? "connection refused" : (timedOut ? "no connection within \(timeout.formattedSeconds)" : text),
                message: "cannot connect to \(target)",
                retry: refused || timedOut
            )
        }
        let elapsed = ContinuousClock.now - started
        let address = channel.remoteAddress?.ipAddress ?? host
        try? await channel.close()
        let milliseconds = elapsed.seconds * 1000
        return .ok(
            ["host": .string(host), "port": .int(port), "address": .string(address), "connect_time": .double(milliseconds / 1000)],
            message: String(format: "connected to %@ (%@) in %.1f ms", target, address, milliseconds)
        )
    }
}
