import NIOSSL
import Synchronization

/// Client TLS handshakes: started, completed by protocol version, failed by reason. Read by
/// metrics.
public final class TLSStatistics: Sendable {
    /// Why a client handshake did not complete.
    public enum Failure: String, Sendable, CaseIterable {
        /// The client's bytes were not a TLS handshake (garbage, plain text after `S`).
        case badHandshake = "bad_handshake"
        /// The client closed the connection before the handshake completed.
        case closedDuringHandshake = "closed_during_handshake"
        /// Direct TLS without ALPN `postgresql`.
        case noALPN = "no_alpn"
        /// Data sent after an SSLRequest in plain text, or direct TLS while ssl is off.
        case protocolViolation = "protocol_violation"
        /// Anything else the TLS library reported.
        case other

        init(_ error: Error) {
            switch error {
            case NIOSSLError.handshakeFailed: self = .badHandshake
            case NIOSSLError.uncleanShutdown: self = .closedDuringHandshake
            default: self = .other
            }
        }
    }

    /// The protocol versions counted (TLS 1.2 is the lowest SwiftPool accepts).
    public static let versions = ["TLSv1.2", "TLSv1.3"]

    private final class Cell: Sendable {
        let value = Atomic<Int>(0)
    }

    /// Index 0: after an SSLRequest; 1: direct TLS.
    private let started: [Cell] = [Cell(), Cell()]
    private let failures: [Cell] = Failure.allCases.map { _ in Cell() }
    private let completed: [Cell] = versions.map { _ in Cell() }

    public init() {}

    func started(direct: Bool) {
        started[direct ? 1 : 0].value.wrappingAdd(1, ordering: .relaxed)
    }

    func succeeded(version: TLSVersion?) {
        let name: String = switch version {
        case .tlsv13?: "TLSv1.3"
        default: "TLSv1.2"
        }
        completed[Self.versions.firstIndex(of: name)!].value.wrappingAdd(1, ordering: .relaxed)
    }

    func failed(_ reason: Failure) {
        failures[Failure.allCases.firstIndex(of: reason)!].value.wrappingAdd(1, ordering: .relaxed)
    }

    /// Handshakes begun, after an SSLRequest (`direct` false) or by direct TLS.
    public func startedTotal(direct: Bool) -> Int {
        started[direct ? 1 : 0].value.load(ordering: .relaxed)
    }

    /// Handshakes completed with protocol `version` (one of ``versions``).
    public func completedTotal(version: String) -> Int {
        Self.versions.firstIndex(of: version).map { completed[$0].value.load(ordering: .relaxed) } ?? 0
    }

    /// Handshakes (or negotiations before one) that failed for `reason`.
    public func failedTotal(_ reason: Failure) -> Int {
        failures[Failure.allCases.firstIndex(of: reason)!].value.load(ordering: .relaxed)
    }
}
