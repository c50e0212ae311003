import Crypto
import Foundation

/// What members say to each other over the watchdog port (TCP) and the heartbeat port (UDP).
public enum WatchdogPayload: Sendable, Codable, Equatable {
    case heartbeat
    case status(MemberStatus)
    case standForLeader(priority: Int, startTime: Double)
    case electionReply(accept: Bool)
    case shutdown
    /// A member asks the leader to decide a backend change.
    case backendRequest(id: UInt64, BackendChangeRequest)
    /// The leader's answer to a `backendRequest`.
    case backendResult(id: UInt64, BackendChangeOutcome)
    /// Reload the configuration (`pcp_reload_config -s c`).
    case reload
}

/// One message with the fields that make it attributable and replay-resistant.
public struct WatchdogEnvelope: Sendable, Codable, Equatable {
    /// The sender's member name (`host:wd_port`).
    public var from: String
    /// The sender's start time: a new boot restarts its sequence numbers.
    public var boot: Double
    /// Increases with every message the sender sends on one port.
    public var seq: UInt64
    /// Wall-clock send time, seconds since 1970.
    public var time: Double
    public var payload: WatchdogPayload

    public init(from: String, boot: Double, seq: UInt64, time: Double, payload: WatchdogPayload) {
        self.from = from
        self.boot = boot
        self.seq = seq
        self.time = time
        self.payload = payload
    }
}

/// Why an incoming message was dropped (the label of `swiftpool_watchdog_messages_rejected_total`).
public enum WatchdogRejection: String, Sendable, CaseIterable, Error {
    case malformed
    case authentication
    case oversized
    case replay
    case unknownMember = "unknown_member"
}

/// Signs and checks messages: `"SWD1"`, HMAC-SHA256 of the JSON body keyed by `wd_authkey`, the
/// JSON body. An empty key still signs, so members with different keys never accept each other.
public struct WatchdogSealer: Sendable {
    public static let magic: [UInt8] = Array("SWD1".utf8)
    /// Largest message on the watchdog port.
    public static let maxMessageSize = 64 * 1024
    /// Largest heartbeat datagram.
    public static let maxDatagramSize = 1024
    /// Messages older or newer than this (by the sender's clock) are refused as replays.
    public static let maxClockSkew = 120.0

    private let keyBytes: [UInt8]

    public init(authKey: String) {
        keyBytes = Array(authKey.utf8)
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    public func seal(_ envelope: WatchdogEnvelope) -> [UInt8] {
        let encoder = JSONEncoder()
        let body = (try? encoder.encode(envelope)) ?? Data()
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: key)
        return Self.magic + Array(mac) + Array(body)
    }

    /// Checks the signature and decodes; the replay check is `ReplayGuard`'s.
    public func open(_ bytes: [UInt8], limit: Int) -> Result<WatchdogEnvelope, WatchdogRejection> {
        guard bytes.count <= limit else { return .failure(.oversized) }
        guard bytes.count > 36, Array(bytes[0..<4]) == Self.magic else { return .failure(.malformed) }
        let mac = Data(bytes[4..<36])
        let body = Data(bytes[36...])
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: body, using: key) else {
            return .failure(.authentication)
        }
        guard let envelope = try? JSONDecoder().decode(WatchdogEnvelope.self, from: body) else { return .failure(.malformed) }
        return .success(envelope)
    }
}

/// Refuses a message seen before: per sender, the boot must not go back and, within one boot, the
/// sequence number must grow; messages far from the local clock are refused too.
public struct ReplayGuard: Sendable {
    private var last: [String: (boot: Double, seq: UInt64)] = [:]

    public init() {}

    public mutating func admit(_ envelope: WatchdogEnvelope, wallClock: Double) -> Bool {
        guard abs(wallClock - envelope.time) <= WatchdogSealer.maxClockSkew else { return false }
        if let seen = last[envelope.from] {
            if envelope.boot < seen.boot { return false }
            if envelope.boot == seen.boot, envelope.seq <= seen.seq { return false }
        }
        last[envelope.from] = (envelope.boot, envelope.seq)
        return true
    }
}
