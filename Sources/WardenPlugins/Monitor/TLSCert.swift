import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import WardenPluginKit
import WardenPluginSupport
import X509

/// The certificate a TLS server presents: days until expiry, issuer, subject, SANs.
/// Verification is off on purpose: this check must report an expired or self-signed
/// certificate, not fail to look at it.
public struct TLSCertPlugin: Plugin {
    public let spec = PluginSpec(
        name: "tls_cert",
        description: "Read the certificate a TLS server presents (days until expiry, issuer, subject, SANs); fails under min_days or when the name is not covered.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "host": ["type": "string", "description": "Host to connect to.", "minLength": 1, "maxLength": 253],
                "port": ["type": "integer", "description": "TLS port.", "default": 443, "minimum": 1, "maximum": 65535],
                "server_name": ["type": "string", "description": "SNI name and the name the certificate must cover (default: host).", "minLength": 1],
                "min_days": ["type": "number", "description": "Critical when the certificate expires sooner than this many days.", "default": 14, "minimum": 0],
                "warn_days": ["type": "number", "description": "Warning when it expires sooner than this many days (but not sooner than min_days).", "default": 30, "minimum": 0],
                "timeout": JSONSchema.duration("How long connect and handshake may take.", default: 10, maximum: 300),
            ],
            "required": ["host"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let host = try parameters.required("host", \.stringValue)
        let port = parameters["port"]?.intValue ?? 443
        let serverName = parameters["server_name"]?.stringValue ?? host
        let minDays = parameters["min_days"]?.doubleValue ?? 14
        let timeout = try parameters.duration("timeout")
        let der = try await Self.peerCertificate(host: host, port: port, serverName: serverName, timeout: timeout, group: context.httpClient.eventLoopGroup)
        let certificate: Certificate
        do { certificate = try Certificate(derEncoded: der) } catch {
            throw PluginError("cannot parse the certificate: \(error)")
        }
        let names = (try? certificate.extensions.subjectAlternativeNames)??.compactMap { name -> String? in
            switch name {
            case .dnsName(let dns): return dns
            case .ipAddress(let bytes): return Self.address(bytes.bytes)
            default: return nil
            }
        } ?? []
        let days = certificate.notValidAfter.timeIntervalSinceNow / 86_400
        let formatter = ISO8601DateFormatter()
        let data: JSONValue = [
            "host": .string(host), "port": .int(port), "server_name": .string(serverName),
            "subject": .string(certificate.subject.description), "issuer": .string(certificate.issuer.description),
            "subject_alternative_names": .array(names.map(JSONValue.string)),
            "not_before": .string(formatter.string(from: certificate.notValidBefore)),
            "not_after": .string(formatter.string(from: certificate.notValidAfter)),
            "days_left": .double((days * 10).rounded() / 10),
            "self_signed": .bool(certificate.subject == certificate.issuer),
        ]
        let summary = String(format: "%@:%d presents %@ (issuer %@), expires in %.1f days", host, port, certificate.subject.description, certificate.issuer.description, days)
        if days < minDays {
            return PluginResult(success: false, data: data, message: summary,
                                error: days < 0 ? "the certificate expired \(Int(-days)) days ago" : String(format: "expires in %.1f days (min %.0f)", days, minDays))
        }
        if !names.isEmpty && !names.contains(where: { Self.covers($0, serverName) }) {
            return PluginResult(success: false, data: data, message: summary, error: "\(serverName) is not among the certificate's names (\(names.joined(separator: ", ")))")
        }
        let warnDays = parameters["warn_days"]?.doubleValue ?? 30
        if days < warnDays {
            return PluginResult(success: false, data: data, message: summary, error: String(format: "expires in %.1f days (warn %.0f)", days, warnDays), severity: .warning)
        }
        return .ok(data, message: summary)
    }

    /// A SAN covers a name exactly, or as a single-label wildcard (`*.example.com`).
    static func covers(_ pattern: String, _ name: String) -> Bool {
        let pattern = pattern.lowercased()
        let name = name.lowercased()
        if pattern == name { return true }
        guard pattern.hasPrefix("*."), let dot = name.firstIndex(of: ".") else { return false }
        return name[dot...] == pattern.dropFirst()
    }

    static func address(_ bytes: ArraySlice<UInt8>) -> String? {
        switch bytes.count {
        case 4: return bytes.map(String.init).joined(separator: ".")
        case 16: return stride(from: bytes.startIndex, to: bytes.endIndex, by: 2).map { String(format: "%x", UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1])) }.joined(separator: ":")
        default: return nil
        }
    }

    /// Connects, completes the TLS handshake, and returns the leaf certificate's DER bytes.
    static func peerCertificate(host: String, port: Int, serverName: String, timeout: Duration, group: any EventLoopGroup) async throws -> [UInt8] {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let sslContext = try NIOSSLContext(configuration: configuration)
        let loop = group.next()
        let promise = loop.makePromise(of: [UInt8].self)
        let sni = serverName.first?.isNumber == true || serverName.contains(":") ? nil : serverName
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(TimeAmount(timeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: sni)
                        try channel.pipeline.syncOperations.addHandler(tls)
                        try channel.pipeline.syncOperations.addHandler(CertificateCatcher(tls: tls, promise: promise))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            promise.fail(error)
            let text = String(describing: error)
            throw PluginError(text.contains("refused") ? "connection refused" : text, message: "cannot connect to \(host):\(port)",
                              retry: text.contains("refused") || text.contains("connectTimeout"))
        }
        let timer = loop.scheduleTask(in: TimeAmount(timeout)) { promise.fail(PluginError("no TLS handshake within the timeout", retry: true)) }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        do {
            return try await promise.futureResult.get()
        } catch let error as PluginError {
            throw error
        } catch {
            throw PluginError("TLS handshake failed: \(error)", message: "no certificate from \(host):\(port)", retry: true)
        }
    }
}

/// Fulfils the promise with the peer's certificate once the handshake completes.
private final class CertificateCatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let tls: NIOSSLClientHandler
    private let promise: EventLoopPromise<[UInt8]>

    init(tls: NIOSSLClientHandler, promise: EventLoopPromise<[UInt8]>) {
        self.tls = tls
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent {
            if let certificate = tls.peerCertificate, let der = try? certificate.toDERBytes() {
                promise.succeed(der)
            } else {
                promise.fail(PluginError("the server presented no certificate"))
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
