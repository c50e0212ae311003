/// Where a client's cancel request goes (pure; the session keeps one).
///
/// PostgreSQL cancels the query a backend runs when the request arrives and ignores a request
/// for an idle backend. A session mode client always has its backend; a transaction-mode
/// client has one only during a unit of work, and its unit can wait for a connection first (a
/// full pool, a new connection being opened, settings replayed). A cancel that arrives then is
/// kept and sent to the backend once the unit's messages are on their way to it, so that the
/// client's query is cancelled as on a direct connection instead of running to its end.
struct CancelRoute: Equatable {
    enum State: Equatable {
        /// Nothing runs: a cancel is ignored.
        case idle
        /// A unit of work waits for its connection; `wanted` once a cancel arrived meanwhile.
        case awaitingBackend(wanted: Bool)
        /// The node whose connection runs the client's query.
        case backend(node: Int)
    }

    private(set) var state: State = .idle

    /// A unit of work starts leasing a connection (transaction mode). A unit that already has
    /// its backend keeps it.
    mutating func unitAwaitsBackend() {
        if state == .idle { state = .awaitingBackend(wanted: false) }
    }

    /// The client's query runs on `node` from now on. True when a cancel arrived while the unit
    /// waited: it is to be sent now, after the unit's messages.
    mutating func backendRuns(node: Int) -> Bool {
        let wanted = state == .awaitingBackend(wanted: true)
        state = .backend(node: node)
        return wanted
    }

    /// The unit of work is over (or the session runs nothing): later cancels are ignored.
    mutating func unitEnded() {
        state = .idle
    }

    /// A cancel request arrived: the node to send it to now, or nil (kept for the backend the
    /// waiting unit gets, or ignored when nothing runs).
    mutating func cancelRequested() -> Int? {
        switch state {
        case .idle:
            return nil
        case .awaitingBackend:
            state = .awaitingBackend(wanted: true)
            return nil
        case .backend(let node):
            return node
        }
    }
}
