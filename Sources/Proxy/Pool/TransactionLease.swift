import NIOCore

/// Why a transaction-mode session got no connection.
enum TransactionLeaseError: Error, CustomStringConvertible {
    case connect(BackendConnectError)
    /// No connection became free within the wait.
    case timedOut(TimeAmount)
    /// The connection could not be brought to the client's settings.
    case settingsNotRestored(String)

    var description: String {
        switch self {
        case .connect(let error): return "\(error)"
        case .timedOut(let wait): return "no backend connection became free within \(wait.nanoseconds / 1_000_000) ms"
        case .settingsNotRestored(let reason): return "could not restore the session's settings: \(reason)"
        }
    }
}

/// What a transaction-pool lease brings: a connection (and whether it was idle in the pool), or
/// why there is none.
typealias TransactionLease = Result<(BackendConnection, reused: Bool), TransactionLeaseError>

/// What a session leases a connection for.
enum TransactionLeasePurpose {
    /// The login's connection (its reply comes from it).
    case login
    /// A unit of work.
    case unit
}

/// A session that asks for leases: told once per lease, now or when a connection comes free.
/// A reference to it, not a closure, waits in the pool: one lease per unit of work allocates
/// nothing.
protocol TransactionLeaseTaker: AnyObject {
    func take(_ lease: TransactionLease, of node: BackendNode, for purpose: TransactionLeasePurpose)
}
