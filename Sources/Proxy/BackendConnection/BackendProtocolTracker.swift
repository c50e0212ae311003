import PostgresWire

/// Follows the protocol state of a backend connection from the messages passing through it, so
/// that the connection can be brought back to idle when its client leaves.
public struct BackendProtocolTracker: Sendable, Equatable {
    /// ReadyForQuery messages still owed by the backend (one per Query, Sync and FunctionCall).
    public private(set) var pendingReadyForQuery = 0
    /// Extended-protocol messages were sent since the last Sync.
    public private(set) var unsyncedExtendedQuery = false
    /// The backend is in COPY IN (or COPY BOTH) and waits for the client's data.
    public private(set) var copyInProgress = false
    public private(set) var transactionStatus = TransactionStatus.idle

    public init() {}

    /// Nothing is in flight: the connection can take a new query or be reset.
    public var isQuiescent: Bool { pendingReadyForQuery == 0 && !unsyncedExtendedQuery && !copyInProgress }

    public mutating func frontendSent(_ type: UInt8) {
        switch type {
        case FrontendMessageType.query, FrontendMessageType.functionCall:
            // A simple query also ends an extended exchange left without a Sync (its unnamed
            // statement and portal go), and its ReadyForQuery says so.
            pendingReadyForQuery += 1
            unsyncedExtendedQuery = false
        case FrontendMessageType.sync:
            // PostgreSQL ignores Sync (and Flush) while it is in COPY IN.
            guard !copyInProgress else { break }
            pendingReadyForQuery += 1
            unsyncedExtendedQuery = false
        case FrontendMessageType.parse, FrontendMessageType.bind, FrontendMessageType.describe,
             FrontendMessageType.execute, FrontendMessageType.close:
            unsyncedExtendedQuery = true
        case FrontendMessageType.copyDone, FrontendMessageType.copyFail:
            copyInProgress = false
        default:
            break
        }
    }

    public mutating func backendSentReadyForQuery(_ status: TransactionStatus) {
        pendingReadyForQuery = max(0, pendingReadyForQuery - 1)
        transactionStatus = status
        copyInProgress = false
    }

    public mutating func backendStartedCopyIn() {
        copyInProgress = true
    }
}
