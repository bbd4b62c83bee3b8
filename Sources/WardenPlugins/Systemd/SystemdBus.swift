import CSystemd
import Dispatch
import Foundation
import WardenPluginKit

/// The few systemd Manager calls the systemd_* plugins need, over sd-bus's non-variadic API
/// (Swift cannot call `sd_bus_call_method`). sd-bus connections are not thread-safe: each
/// use opens its own connection on a Dispatch thread and closes it.
struct SystemdBus: ~Copyable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// The bus itself was unreachable (not the unit's fault).
        var transient: Bool
    }

    static let destination = "org.freedesktop.systemd1"
    static let managerPath = "/org/freedesktop/systemd1"
    static let manager = "org.freedesktop.systemd1.Manager"
    static let unitInterface = "org.freedesktop.systemd1.Unit"
    static let serviceInterface = "org.freedesktop.systemd1.Service"

    private let bus: OpaquePointer

    /// Runs `body` with a fresh system-bus connection on a Dispatch thread (sd-bus blocks).
    static func with<T: Sendable>(_ body: @escaping @Sendable (borrowing SystemdBus) throws(Failure) -> T) async throws(Failure) -> T {
        let result: Result<T, Failure> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let bus = try SystemdBus()
                    continuation.resume(returning: .success(try body(bus)))
                } catch let failure as Failure {
                    continuation.resume(returning: .failure(failure))
                } catch {
                    continuation.resume(returning: .failure(Failure(description: "\(error)", transient: false)))
                }
            }
        }
        return try result.get()
    }

    private init() throws(Failure) {
        var opened: OpaquePointer?
        let status = warden_sd_bus_open_system(&opened)
        guard status >= 0, let opened else {
            throw Failure(description: "cannot connect to the system bus: \(String(cString: strerror(-status)))", transient: true)
        }
        bus = opened
    }

    deinit {
        warden_sd_bus_flush_close_unref(bus)
    }

    /// Calls a Manager method with string arguments; returns the object path it answers with.
    func callReturningPath(_ method: String, _ arguments: [String]) throws(Failure) -> String {
        var message: OpaquePointer?
        var status = warden_sd_bus_message_new_method_call(bus, &message, Self.destination, Self.managerPath, Self.manager, method)
        guard status >= 0, let message else { throw Failure(description: "cannot build \(method): \(String(cString: strerror(-status)))", transient: false) }
        defer { warden_sd_bus_message_unref(message) }
        for argument in arguments {
            status = argument.withCString { warden_sd_bus_message_append_basic(message, CChar(UInt8(ascii: "s")), $0) }
            guard status >= 0 else { throw Failure(description: "cannot append to \(method): \(String(cString: strerror(-status)))", transient: false) }
        }
        var error = sd_bus_error()
        defer { warden_sd_bus_error_free(&error) }
        var reply: OpaquePointer?
        status = warden_sd_bus_call(bus, message, 30_000_000, &error, &reply)
        guard status >= 0, let reply else { throw Self.failure(error, status: status, doing: method) }
        defer { warden_sd_bus_message_unref(reply) }
        var path: UnsafePointer<CChar>?
        status = warden_sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "o")), &path)
        guard status >= 0, let path else { throw Failure(description: "unexpected reply to \(method)", transient: false) }
        return String(cString: path)
    }

    func string(_ path: String, _ interface: String, _ property: String) throws(Failure) -> String {
        var error = sd_bus_error()
        defer { warden_sd_bus_error_free(&error) }
        var value: UnsafeMutablePointer<CChar>?
        let status = warden_sd_bus_get_property_string(bus, Self.destination, path, interface, property, &error, &value)
        guard status >= 0, let value else { throw Self.failure(error, status: status, doing: "reading \(property)") }
        defer { free(value) }
        return String(cString: value)
    }

    func uint32(_ path: String, _ interface: String, _ property: String) throws(Failure) -> UInt32 {
        var error = sd_bus_error()
        defer { warden_sd_bus_error_free(&error) }
        var value: UInt32 = 0
        let status = warden_sd_bus_get_property_trivial(bus, Self.destination, path, interface, property, &error, CChar(UInt8(ascii: "u")), &value)
        guard status >= 0 else { throw Self.failure(error, status: status, doing: "reading \(property)") }
        return value
    }

    func uint64(_ path: String, _ interface: String, _ property: String) throws(Failure) -> UInt64 {
        var error = sd_bus_error()
        defer { warden_sd_bus_error_free(&error) }
        var value: UInt64 = 0
        let status = warden_sd_bus_get_property_trivial(bus, Self.destination, path, interface, property, &error, CChar(UInt8(ascii: "t")), &value)
        guard status >= 0 else { throw Self.failure(error, status: status, doing: "reading \(property)") }
        return value
    }

    /// Whether a job object still exists (systemd removes it when the job finishes).
    func jobPending(_ path: String) -> Bool {
        (try? string(path, "org.freedesktop.systemd1.Job", "State")) != nil
    }

    static func failure(_ error: sd_bus_error, status: Int32, doing what: String) -> Failure {
        if let message = error.message {
            let name = error.name.map { String(cString: $0) } ?? ""
            return Failure(description: String(cString: message), transient: name.hasSuffix("NoReply") || name.hasSuffix("Disconnected"))
        }
        return Failure(description: "\(what) failed: \(String(cString: strerror(-status)))", transient: false)
    }

    /// The unit's state as the systemd_* plugins report it.
    func unitState(_ unit: String) throws(Failure) -> JSONObject {
        let path = try callReturningPath("LoadUnit", [unit])
        var data: JSONObject = [
            "unit": .string(unit),
            "load_state": .string(try string(path, Self.unitInterface, "LoadState")),
            "active_state": .string(try string(path, Self.unitInterface, "ActiveState")),
            "sub_state": .string(try string(path, Self.unitInterface, "SubState")),
        ]
        let since = try uint64(path, Self.unitInterface, "StateChangeTimestamp")
        data["since"] = since > 0 ? .string(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(since) / 1e6))) : .null
        if unit.hasSuffix(".service") {
            data["main_pid"] = .int(Int((try? uint32(path, Self.serviceInterface, "MainPID")) ?? 0))
            data["n_restarts"] = .int(Int((try? uint32(path, Self.serviceInterface, "NRestarts")) ?? 0))
        }
        return data
    }
}

/// `daemon.allowed_units` bounds what rules may touch; a manual `warden exec` without a
/// config has no bound.
enum UnitPolicy {
    static func check(_ unit: String, limits: HostLimits) throws {
        try limits.check(unit, by: .allowedUnits, what: "unit")
    }

    static let unitPattern = "^[A-Za-z0-9:_.@-]+\\.(service|socket|timer|target|mount|path|slice|scope)$"
}
