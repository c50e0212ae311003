import PostgresWire

/// Transaction mode: the session gives its backend connections back between units of work.
extension ClientSessionMachine {
    /// Gives the session's connections back when a unit of work is over: every connection has
    /// answered everything and is outside a transaction, nothing of the client's waits or is
    /// held, and nothing pins the client.
    mutating func releaseIfBetweenUnits<E: SessionEnvironment>(_ env: inout E, into actions: inout [Action]) {
        // Asked in place (`dispatch?.…`): binding `dispatch` would copy the whole machine.
        guard case .forwarding = phase, dispatch?.pooled?.isPinned == false,
              env.holdsConnections, dispatch?.isBetweenUnits == true, env.allQuiescent, env.allOutsideTransaction,
              adminAnswer == .none, idleErrors.isEmpty, streamNodes == nil, !splitter.isStreaming else { return }
        actions.append(.releaseConnections)
    }

    /// Whether losing the session's primary can leave it running: it is between units of work,
    /// or (`unitWaiting`) its unit has not begun anywhere, and nothing of its own is open
    /// (``DispatchMachine/canMoveToAnotherPrimary(unitWaiting:)``).
    func canFollowFailover(unitWaiting: Bool) -> Bool {
        guard case .forwarding = phase else { return false }
        return dispatch?.canMoveToAnotherPrimary(unitWaiting: unitWaiting) == true && adminAnswer == .none
            && idleErrors.isEmpty && streamNodes == nil && !splitter.isStreaming
    }

    /// A failover the session followed made `node` its primary: a unit that waited for the old
    /// one leases the new one.
    mutating func primaryMoved<E: SessionEnvironment>(to node: Int, _ env: inout E, into actions: inout [Action]) {
        guard canFollowFailover(unitWaiting: true) else { return }
        dispatch!.primaryMoved(to: node)
        dispatch!.dispatch(&env, into: &dispatchActions)
        takeDispatchActions(&env, into: &actions)
        actions.append(.log(.info, "session goes on with the new primary", ["node": "\(node)"]))
        actions.append(.updateReading)
    }

    /// No connection to `node` could be had for a unit of work: with the primary the session
    /// ends with `error`; another node's reads go elsewhere (``nodeUnavailable(_:_:into:)``).
    mutating func unitLeaseFailed(_ error: ErrorFields, into actions: inout [Action]) {
        guard case .forwarding = phase else { return }
        actions.append(.log(.warning, "no backend connection for a transaction", ["error": "\(error.message ?? "")"]))
        fatal(error, into: &actions)
    }
}
