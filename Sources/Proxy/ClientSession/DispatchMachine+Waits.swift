import Cluster
import PostgresWire
import Routing

/// Decisions that wait: for catalog facts not known yet, and (read_your_writes) for standbys to
/// replay the session's last write.
extension DispatchMachine {
    /// read_your_writes: the standbys that have replayed the session's last write and the
    /// position it was given; nil (and the requirements forgotten) once every readable standby has.
    mutating func standbysWithSessionWrites<E: DispatchEnvironment>(readable: [Int], _ env: inout E) -> Set<Int>? {
        func coversAll(_ caughtUp: Set<Int>) -> Bool { readable.allSatisfy { $0 == primary || caughtUp.contains($0) } }
        var result: Set<Int>?
        if let sample = lastWriteSample {
            let caughtUp = env.standbys(caughtUpAfter: sample)
            if coversAll(caughtUp) { lastWriteSample = nil } else { result = caughtUp }
        }
        if let position = minimumPosition {
            let caughtUp = env.standbys(replayedAtLeast: position)
            if coversAll(caughtUp) { minimumPosition = nil } else { result = result.map { $0.intersection(caughtUp) } ?? caughtUp }
        }
        return result
    }

    /// read_your_writes: whether the read `routed` waits (again) for a standby to replay the
    /// session's write (read_your_writes_wait); when not, counts where it goes.
    mutating func waitsForStandbys(_ routed: RoutedQuery, into actions: inout [Action]) -> Bool {
        let period = max(1, routing.settings.readYourWritesCheckPeriod)
        guard routed.reason == .standbyBehindSession else {
            if standbyChecksLeft != nil, case .node = routed.decision {
                actions.append(.standbyWaitEnded(milliseconds: standbyChecks * period, onStandby: true))
            }
            standbyChecksLeft = nil
            standbyChecks = 0
            return false
        }
        let wait = routing.settings.readYourWritesWait
        if standbyChecksLeft == nil, wait > 0 { standbyChecksLeft = max(1, (wait + period - 1) / period) }
        if let left = standbyChecksLeft, left > 0 {
            standbyChecksLeft = left - 1
            standbyChecks += 1
            return true
        }
        if standbyChecksLeft != nil { actions.append(.standbyWaitEnded(milliseconds: standbyChecks * period, onStandby: false)) }
        standbyChecksLeft = nil
        standbyChecks = 0
        actions.append(.readOnPrimaryForSessionWrites)
        return false
    }

    /// Holds `messages` for one read_your_writes_check_period, then routes them again.
    mutating func holdForStandbys(_ messages: [RawMessage], into actions: inout [Action]) {
        heldForFacts = messages
        actions.append(.waitForStandbys(milliseconds: max(1, routing.settings.readYourWritesCheckPeriod)))
    }

    /// read_your_writes: whether a statement may have written on the primary (a BOTH statement,
    /// such as SET, writes nothing a read could miss).
    static func mayHaveWritten(_ query: QueryClassification, _ routed: RoutedQuery) -> Bool {
        guard routed.decision == .primary else { return false }
        return routed.reason == .writingFunction || query.statements.contains { $0.kind != .select }
    }

    /// The catalog facts `routed` went to the primary for, when the statement should wait for
    /// their look-ups instead (the first time a name is seen); nil to send it as decided.
    func factsToWaitFor(_ routed: RoutedQuery, facts: some SessionFacts) -> [CatalogFactsCache.Key]? {
        guard routing.settings.loadBalanceMode else { return nil }
        let misses = facts.takeMisses()
        guard routed.reason == .unknownFacts else { return nil }
        // A statement may need several facts, learned one after the other (a relation, then
        // a function); it waits once for each.
        let fresh = misses.filter { !factsAwaited.contains($0) }
        return fresh.isEmpty ? nil : fresh
    }

    mutating func waitForFacts(_ misses: [CatalogFactsCache.Key], holding messages: [RawMessage],
                                       into actions: inout [Action]) {
        heldForFacts = messages
        factsAwaited.formUnion(misses)
        actions.append(.waitForFacts(misses))
    }
}
