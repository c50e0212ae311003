import NIOConcurrencyHelpers

/// Closed while a failover replaces the primary: from the moment the primary is taken down
/// until the search for the new one ends. Logins that arrive meanwhile wait for it to open
/// (as Pgpool-II's children wait for a failover to finish) instead of landing on a standby
/// and failing their writes with 25006.
public final class PrimaryGate: Sendable {
    private struct State {
        var closed = false
        var nextTicket: UInt64 = 0
        var waiters: [UInt64: @Sendable () -> Void] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public var isClosed: Bool { state.withLockedValue { $0.closed } }

    /// The primary is being replaced.
    public func close() {
        state.withLockedValue { $0.closed = true }
    }

    /// The search ended (with a primary or without): every waiter is called, on this thread.
    public func open() {
        let waiters = state.withLockedValue { state -> [@Sendable () -> Void] in
            state.closed = false
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter() }
    }

    /// Calls `waiter` once the gate opens and returns a ticket for ``cancel(_:)``; returns nil
    /// (and never calls `waiter`) when the gate is open already.
    public func whenOpen(_ waiter: @escaping @Sendable () -> Void) -> UInt64? {
        state.withLockedValue { state in
            guard state.closed else { return nil }
            state.nextTicket += 1
            state.waiters[state.nextTicket] = waiter
            return state.nextTicket
        }
    }

    /// Forgets a waiter that stopped waiting (it gave up, or its client left).
    public func cancel(_ ticket: UInt64) {
        _ = state.withLockedValue { $0.waiters.removeValue(forKey: ticket) }
    }
}
