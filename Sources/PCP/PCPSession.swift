import Configuration
import Foundation
import PostgresWire

/// A PCP request after authentication.
public enum PCPCommand: Sendable, Equatable {
    case nodeCount
    /// -1: every node.
    case nodeInfo(Int)
    case attach(Int)
    case detach(Int, graceful: Bool)
    case promote(Int, switchover: Bool)
    case poolStatus
    case processCount
    /// 0: every slot.
    case processInfo(Int)
    case healthCheckStats(Int)
    /// `cluster`: `pcp_reload_config -s c`, every watchdog member reloads.
    case reload(cluster: Bool)
    /// `s`, `f` or `i`.
    case stop(mode: UInt8)
    /// -1: every watchdog member.
    case watchdogInfo(Int)
    case recovery(Int)
    case setParameter(name: String, value: String)
}

/// The PCP conversation as a pure state machine: salt request, md5 authentication against
/// pcp.conf, then commands. What it cannot accept ends the connection with a FATAL.
public struct PCPSession: Sendable {
    public enum Action: Sendable, Equatable {
        case send([PCPMessage])
        /// Send, then close.
        case fatal(PCPMessage)
        case execute(PCPCommand)
        case close
    }

    private enum State: Sendable {
        case start
        case salted([UInt8])
        case authenticated(user: String)
    }

    private var state = State.start
    private let users: PCPUsers
    private let makeSalt: @Sendable () -> [UInt8]

    /// - Parameters:
    ///   - users: pcp.conf's users; a name is found byte for byte, the first entry wins.
    ///   - makeSalt: four random bytes per salt request.
    public init(users: PCPUsers, makeSalt: @escaping @Sendable () -> [UInt8]) {
        self.users = users
        self.makeSalt = makeSalt
    }

    public var user: String? {
        if case .authenticated(let user) = state { return user }
        return nil
    }

    public mutating func receive(_ message: PCPMessage) -> Action {
        switch (message.type, state) {
        case (UInt8(ascii: "M"), _):
            let salt = makeSalt()
            state = .salted(salt)
            return .send([PCPMessage(type: UInt8(ascii: "m"), payload: salt)])
        case (UInt8(ascii: "R"), .salted(let salt)):
            let fields = message.strings
            guard fields.count >= 2 else {
                return .fatal(.error(severity: "FATAL", message: "failed to authenticate PCP user",
                                     detail: "error while reading authentication packet"))
            }
            let (user, response) = (fields[0], fields[1])
            // An unknown user costs the same work as a wrong password.
            let stored = users.passwordMD5(for: user)
            let expected = Self.expected(stored: stored ?? String(repeating: "0", count: 32), user: user, salt: salt)
            guard ConstantTime.equal(expected, response), stored != nil else {
                return .fatal(.error(severity: "FATAL", message: "authentication failed for user \"\(user)\"",
                                     detail: "username and/or password does not match"))
            }
            state = .authenticated(user: user)
            return .send([.strings("r", ["AuthenticationOK"])])
        case (UInt8(ascii: "R"), _):
            return .fatal(.error(severity: "FATAL", message: "authentication failed for new PCP connection",
                                 detail: "no salt was requested"))
        case (_, .start), (_, .salted):
            return .fatal(.error(severity: "FATAL", message: "authentication failed for new PCP connection",
                                 detail: "connection not authorized"))
        case (_, .authenticated):
            return command(message)
        }
    }

    /// `md5hex(md5hex(stored ‖ user) ‖ salt)`: what a client proves it knows the password with.
    static func expected(stored: String, user: String, salt: [UInt8]) -> String {
        let inner = MD5Password.plainHash(stored + user)
        return MD5Password.plainHash(bytes: Array(inner.utf8) + salt)
    }

    private func command(_ message: PCPMessage) -> Action {
        let text = message.strings.first ?? ""
        let number = Int(text.trimmingCharacters(in: .whitespaces)) ?? Int(text.split(separator: " ").first ?? "")
        func node(_ make: (Int) -> PCPCommand) -> Action {
            guard let number else {
                return .send([.error(severity: "ERROR", message: "invalid node ID", detail: "\"\(text)\" is not a number")])
            }
            return .execute(make(number))
        }
        switch Character(UnicodeScalar(message.type)) {
        case "L": return .execute(.nodeCount)
        case "I": return node { .nodeInfo($0) }
        case "C": return node { .attach($0) }
        case "D": return node { .detach($0, graceful: false) }
        case "d": return node { .detach($0, graceful: true) }
        case "J", "j":
            // "<id> \0" then one byte: s = switchover, n = only SwiftPool's idea of the primary.
            let flag = message.payload.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false).dropFirst().first?.first
            return node { .promote($0, switchover: flag == UInt8(ascii: "s")) }
        case "B": return .execute(.poolStatus)
        case "N": return .execute(.processCount)
        case "P": return node { .processInfo($0) }
        case "H": return node { .healthCheckStats($0) }
        case "Z": return .execute(.reload(cluster: message.payload.first == UInt8(ascii: "c")))
        case "T", "t": return .execute(.stop(mode: message.payload.first ?? UInt8(ascii: "s")))
        case "W": return .execute(.watchdogInfo(number ?? -1))
        case "O": return node { .recovery($0) }
        case "A":
            let fields = message.strings
            return .execute(.setParameter(name: fields.first ?? "", value: fields.dropFirst().first ?? ""))
        case "X": return .close
        default:
            return .fatal(.error(severity: "FATAL", message: "PCP processing request",
                                 detail: "unknown PCP packet type \"\(Character(UnicodeScalar(message.type)))\""))
        }
    }
}
