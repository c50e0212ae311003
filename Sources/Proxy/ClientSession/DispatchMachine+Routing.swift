import Cluster
import NIOCore
import PostgresWire
import Routing

/// Routing decisions: simple queries, extended batches up to their Sync, and where
/// protocol-level statements and portals live (the waits a decision may need are in
/// DispatchMachine+Waits.swift).
extension DispatchMachine {
    // MARK: Routing

    mutating func enqueue<E: DispatchEnvironment, F: SessionFacts>(
        _ message: RawMessage, _ env: inout E, facts: F, into actions: inout [Action]
    ) {
        if heldForFacts != nil { return heldForFacts!.append(message) }
        switch message.type {
        case FrontendMessageType.query:
            if !extendedBatch.isEmpty {
                routeExtendedBatch(&env, facts: facts, into: &actions)
                if heldForFacts != nil { return heldForFacts!.append(message) }
            }
            var body = message.body
            var text = body.readString(length: max(0, body.readableBytes - 1)) ?? ""
            var message = message
            var effects: [SessionEffect] = []
            var classified: QueryClassification? = env.classification(ofQuery: text)
            if isPooled {
                effects = sessionEffects(classified!, text: text)
                if let reason = refusedPin(effects) {
                    actions.append(.refusedPinning(reason))
                    text = Self.refusal(reason)
                    var refusal = ByteBuffer()
                    FrontendMessageEncoder.query(text, into: &refusal)
                    message = RawMessage(type: FrontendMessageType.query, bytes: refusal)
                    effects = []
                    classified = nil
                }
            }
            var (query, routed) = route(text, classified: classified, &env, facts: facts, into: &actions)
            if let misses = factsToWaitFor(routed, facts: facts) { return waitForFacts(misses, holding: [message], into: &actions) }
            if waitsForStandbys(routed, into: &actions) { return holdForStandbys([message], into: &actions) }
            if !factsAwaited.isEmpty { factsAwaited.removeAll() }
            forgetDeallocatedStatements(query)
            if let open = unsyncedRoute {
                // An extended exchange left without a Sync (asyncpg's prepare: Parse, Describe,
                // Flush) ends with this query, on the node it was on.
                routed.decision = open
                unsyncedRoute = nil
            }
            waiting.append(PendingMessage(message: message, decision: routed.decision, completes: [(query, routed)],
                                          effects: effects))
        case FrontendMessageType.copyData, FrontendMessageType.copyDone, FrontendMessageType.copyFail:
            waiting.append(PendingMessage(message: message, decision: lastWaitingDecision))
        case FrontendMessageType.terminate, FrontendMessageType.functionCall:
            if !extendedBatch.isEmpty {
                routeExtendedBatch(&env, facts: facts, into: &actions)
                if heldForFacts != nil { return heldForFacts!.append(message) }
            }
            if message.type == FrontendMessageType.terminate {
                waiting.append(PendingMessage(message: message, decision: currentRoute))
            } else {
                waiting.append(PendingMessage(message: message, decision: .primary, completes: []))
            }
        default:
            extendedBatch.append(message)
            extendedBatchBytes += message.bytes.readableBytes
            if message.type == FrontendMessageType.sync || extendedBatchBytes > Self.heldBytesLimit {
                // A batch too large to hold goes out before its Sync, to the primary.
                routeExtendedBatch(&env, facts: facts, into: &actions)
            }
        }
    }

    /// Classifies `text` and applies the session's routing policy to it.
    mutating func route<E: DispatchEnvironment, F: SessionFacts>(
        _ text: String, classified: QueryClassification? = nil, _ env: inout E, facts: F, into actions: inout [Action]
    ) -> (QueryClassification, RoutedQuery) {
        let query = classified ?? SQLClassifier.classify(query: text)
        guard routing.settings.loadBalanceMode else {
            // Primary only: nothing to ask the cluster or the catalog.
            let routed = routing.route(query, text: text, nodes: RoutingNodes(primary: primary, readable: []),
                                       facts: facts, pick: { nil })
            return (query, routed)
        }
        var nodes = env.routingNodes()
        if routing.settings.readYourWrites, lastWriteSample != nil || minimumPosition != nil {
            nodes.caughtUp = standbysWithSessionWrites(readable: nodes.readable, &env)
        }
        let routed = routing.route(query, text: text, nodes: nodes, facts: facts,
                                   pick: { env.pick() }, leastDelayed: { env.leastDelayed() })
        return (query, routed)
    }

    /// Routes the extended batch received so far as a unit: its Parse messages are classified
    /// like simple queries, and Bind/Describe/Execute/Close follow the statement or portal they
    /// name.
    mutating func routeExtendedBatch<E: DispatchEnvironment, F: SessionFacts>(
        _ env: inout E, facts: F, streamedHead: Bool = false, into actions: inout [Action]
    ) {
        var batch = extendedBatch
        extendedBatch.removeAll()
        extendedBatchBytes = 0
        var endsWithSync = batch.last?.type == FrontendMessageType.sync
        var quietSync = false
        if isPooled {
            if unsyncedRoute == nil, batch.allSatisfy({ $0.type == FrontendMessageType.flush }) {
                // Nothing is open for a Flush to push out: no connection is needed for it.
                return
            }
            if unsyncedRoute == nil { unsyncedStatementsOnly = true }
            unsyncedStatementsOnly = unsyncedStatementsOnly && batch.allSatisfy(Self.isStatementMessage)
            if !endsWithSync, unsyncedStatementsOnly, batch.last?.type == FrontendMessageType.flush, !streamedHead {
                // A driver that prepares ahead (Parse, Describe, Flush) and binds later would
                // hold its connection until then: SwiftPool closes the exchange itself.
                batch.append(RawMessage(type: FrontendMessageType.sync, bytes: Self.syncMessage))
                endsWithSync = true
                quietSync = true
            }
        }

        var decisions: [RouteDecision] = []
        var completed: [(query: QueryClassification, routed: RoutedQuery)] = []
        var parsedHere = ParsedInBatch()
        // Statements of earlier batches this one uses, each looked up once, where it names them.
        var usedStatements: [UsedStatement] = []
        var closedStatements: [String] = []
        var boundPortals: [String] = []
        var closedPortals: [String] = []
        var batchEffects: [SessionEffect] = []
        for (index, message) in batch.enumerated() {
            var body = message.body
            switch message.type {
            case FrontendMessageType.parse where streamedHead && index == batch.count - 1:
                // A statement too large to hold is not classified: the primary runs it, and it
                // lives there only.
                let name = body.readNullTerminatedString() ?? ""
                protocolStatements[name] = nil
                usedStatements.forget(name)
                decisions.append(.primary)
            case FrontendMessageType.parse:
                let name = body.readNullTerminatedString() ?? ""
                var text = body.readNullTerminatedString() ?? ""
                var classified: QueryClassification? = env.classification(ofParsed: text)
                var effects: [SessionEffect] = []
                if isPooled {
                    refusedStatements.remove(name)
                    effects = sessionEffects(classified!, text: text)
                    if let reason = refusedPin(effects) {
                        refusedStatements.insert(name)
                        actions.append(.refusedPinning(reason))
                        text = Self.refusal(reason)
                        effects = []
                        var refusal = ByteBuffer()
                        refusal.writeMessage(type: FrontendMessageType.parse) {
                            $0.writeNullTerminatedString(name)
                            $0.writeNullTerminatedString(text)
                            $0.writeInteger(Int16(0))
                        }
                        batch[index] = RawMessage(type: FrontendMessageType.parse, bytes: refusal)
                        classified = nil
                    }
                }
                let (query, routed) = route(text, classified: classified, &env, facts: facts, into: &actions)
                if let misses = factsToWaitFor(routed, facts: facts) {
                    // Route the whole batch again once the facts are known.
                    return waitForFacts(misses, holding: batch, into: &actions)
                }
                if waitsForStandbys(routed, into: &actions) { return holdForStandbys(batch, into: &actions) }
                decisions.append(routed.decision)
                completed.append((query, routed))
                let parsed = ParsedStatement(name: name, parse: batch[index], query: query, routed: routed, effects: effects)
                parsedHere.record(parsed)
            case FrontendMessageType.bind:
                let portal = body.readNullTerminatedString() ?? ""
                let statement = body.readNullTerminatedString() ?? ""
                // One look-up of a statement prepared earlier (a name hashes at each); a batch that
                // only binds and executes parses nothing, so its list is empty.
                let parsedIndex = parsedHere.find(statement)
                let parsedInBatch = parsedIndex != nil
                // Its placement's fields are read in place (a copy of it retains all it holds).
                let earlier = parsedInBatch ? nil : protocolStatements.index(forKey: statement)
                if isPooled, let effects = parsedIndex.map({ parsedHere.statements[$0].effects })
                    ?? earlier.map({ protocolStatements.values[$0].effects }), !effects.isEmpty {
                    batchEffects += effects
                }
                if refusedStatements.contains(statement) {
                    // The refusal takes no parameters: bound without any, it raises its error.
                    var bare = ByteBuffer()
                    bare.writeMessage(type: FrontendMessageType.bind) {
                        $0.writeNullTerminatedString(portal)
                        $0.writeNullTerminatedString(statement)
                        $0.writeInteger(Int16(0))
                        $0.writeInteger(Int16(0))
                        $0.writeInteger(Int16(0))
                    }
                    batch[index] = RawMessage(type: FrontendMessageType.bind, bytes: bare)
                }
                if !parsedInBatch {
                    if let earlier {
                        if protocolStatements.values[earlier].routed.reason == .both {
                            let nodes = env.routingNodes()
                            let decision = routing.targetsNow(
                                forEveryNodeStatement: protocolStatements.values[earlier].query.singleStatement, nodes: nodes)
                            protocolStatements.values[earlier].routed.decision = decision
                            // A Describe or Close of it earlier in the batch goes there too.
                            usedStatements.retarget(statement, to: decision)
                        }
                        let placement = protocolStatements.values[earlier]
                        usedStatements.append(UsedStatement(name: statement, decision: placement.routed.decision,
                                                            nodes: placement.nodes))
                        // Executing a statement prepared earlier counts like running it again.
                        completed.append((placement.query, placement.routed))
                    } else {
                        usedStatements.append(UsedStatement(name: statement, decision: nil, nodes: nil))
                    }
                }
                if !portal.isEmpty { boundPortals.append(portal) }
            case FrontendMessageType.describe, FrontendMessageType.close:
                let kind = body.readInteger(as: UInt8.self)
                let name = body.readNullTerminatedString() ?? ""
                if kind == UInt8(ascii: "S") {
                    if parsedHere.find(name) == nil { usedStatements.append(UsedStatement(name, in: protocolStatements)) }
                    if message.type == FrontendMessageType.close {
                        closedStatements.append(name)
                        parsedHere.close(name)
                    }
                } else if let placed = portals[name] {
                    decisions.append(placed)
                    if message.type == FrontendMessageType.close { closedPortals.append(name) }
                }
            case FrontendMessageType.execute:
                let portal = body.readNullTerminatedString() ?? ""
                if !boundPortals.contains(portal), let placed = portals[portal] { decisions.append(placed) }
            default:
                break
            }
        }
        let writing = routing.writingTransaction
            && (routing.transactionStatus == .inTransaction || routing.settings.writeStickiness == .always)
        var caughtUp: Set<Int>?
        if routing.settings.readYourWrites, !usedStatements.isEmpty, lastWriteSample != nil || minimumPosition != nil {
            caughtUp = standbysWithSessionWrites(readable: env.routingNodes().readable, &env)
        }
        for used in usedStatements {
            // A statement from an earlier batch: where it was routed then (unknown: the primary,
            // which will report the error). In a transaction that wrote, a read prepared on a
            // standby runs on the primary (parsed there first), as Pgpool-II decides again at Bind;
            // so does one prepared on a standby that has not replayed the session's last write.
            let decision = used.decision ?? .primary
            if writing, case .node = decision {
                decisions.append(.primary)
            } else if let caughtUp, case .node(let node) = decision, !caughtUp.contains(node) {
                decisions.append(.primary)
                actions.append(.readOnPrimaryForSessionWrites)
            } else {
                decisions.append(decision)
            }
        }
        var target = Self.combine(decisions, current: currentRoute)
        if !endsWithSync, case .node = target {
            // Without a Sync the batch may go on with anything: keep it on the primary.
            target = .primary
        }
        // Until a Sync closes it, an extended exchange stays where it started (asyncpg sends
        // Parse/Describe/Flush, then Bind/Execute/Sync).
        if let open = unsyncedRoute { target = open }
        unsyncedRoute = endsWithSync ? nil : target
        let targetRoute = Self.nodes(of: target, primary: primary)
        // As a set only where one is needed: most batches neither parse nor close.
        var targetSet: Set<Int>?
        func targetNodes() -> Set<Int> {
            if let targetSet { return targetSet }
            let nodes = Set(targetRoute)
            targetSet = nodes
            return nodes
        }
        if case .primary = target {
            // Where the batch really ran: a BEGIN or SET in it that alone would have reached
            // every node reached the primary only, which routing must know (pgjdbc sends BEGIN
            // in one batch with the transaction's first statement).
            for index in completed.indices { completed[index].routed.decision = .primary }
        }

        // Parse-before-bind: statements this batch uses must exist on its nodes. Usually they
        // do: then nothing is built or written back.
        for (offset, used) in usedStatements.enumerated()
        where used.nodes.map({ !Self.covers($0, targetRoute) }) ?? false
            && !usedStatements[..<offset].contains(where: { $0.name == used.name })
        {
            let name = used.name
            guard var placement = protocolStatements[name] else { continue }
            for node in targetNodes().subtracting(placement.nodes).sorted() {
                // Closed first, so that a node that has the name after all (SwiftPool's view of it
                // was lost with a connection) takes the Parse instead of failing it.
                enqueueOwnBatch([Self.closeStatement(name), placement.parse], to: node)
                placement.nodes.insert(node)
            }
            protocolStatements[name] = placement
        }
        var groupEffects: [SessionEffect] = []
        if isPooled {
            unsyncedEffects += batchEffects
            if endsWithSync { swap(&groupEffects, &unsyncedEffects) }
        }
        for (offset, message) in batch.enumerated() {
            let isSync = message.type == FrontendMessageType.sync
            waiting.append(PendingMessage(message: message, decision: target, completes: isSync ? completed : nil,
                                          streamed: streamedHead && offset == batch.count - 1,
                                          effects: isSync ? groupEffects : [], quiet: quietSync && isSync))
        }
        if !endsWithSync {
            // No ReadyForQuery will report on these statements: count them as done now (a failed
            // write still pins reads to the primary, which is the safe side).
            for (query, routed) in completed { routing.completed(query, routed: routed, succeeded: true, facts: facts) }
        }
        // Closes first: a name closed and then parsed again in one batch lives on, as parsed.
        for name in closedStatements {
            // Closed on the batch's nodes; elsewhere SwiftPool closes it itself.
            if let placement = protocolStatements.removeValue(forKey: name) {
                for node in placement.nodes.subtracting(targetNodes()).sorted() {
                    enqueueOwnBatch([Self.closeStatement(name)], to: node)
                }
            }
        }
        for parsed in parsedHere.statements where !parsed.closed {
            protocolStatements[parsed.name] = StatementPlacement(
                parse: parsed.parse, query: parsed.query, routed: parsed.routed, nodes: targetNodes(), effects: parsed.effects)
        }
        for portal in boundPortals { portals[portal] = target }
        for portal in closedPortals { portals[portal] = nil }
        if !factsAwaited.isEmpty { factsAwaited.removeAll() }
    }

    /// Whether `nodes` has every node of `route`.
    static func covers(_ nodes: Set<Int>, _ route: RouteNodes) -> Bool {
        for node in route where !nodes.contains(node) { return false }
        return true
    }

    /// Queues messages of SwiftPool's own, with a Sync, whose answers the client never sees.
    mutating func enqueueOwnBatch(_ messages: [RawMessage], to node: Int) {
        let decision: RouteDecision = node == primary ? .primary : .node(node)
        var sync = ByteBuffer()
        FrontendMessageEncoder.sync(into: &sync)
        for message in messages { waiting.append(PendingMessage(message: message, decision: decision, swallowed: true)) }
        waiting.append(PendingMessage(message: RawMessage(type: FrontendMessageType.sync, bytes: sync),
                                      decision: decision, swallowed: true))
    }

    /// A Close of the protocol-level statement `name`.
    static func closeStatement(_ name: String) -> RawMessage {
        var close = ByteBuffer()
        close.writeMessage(type: FrontendMessageType.close) {
            $0.writeInteger(UInt8(ascii: "S"))
            $0.writeNullTerminatedString(name)
        }
        return RawMessage(type: FrontendMessageType.close, bytes: close)
    }

    /// SQL DEALLOCATE and DISCARD also remove protocol-level prepared statements.
    mutating func forgetDeallocatedStatements(_ query: QueryClassification) {
        for statement in query.statements {
            switch statement.kind {
            case .deallocate(let name?): protocolStatements[name] = nil
            case .deallocate(nil), .discard: protocolStatements.removeAll()
            default: break
            }
        }
    }

    /// Parse, Describe or Close of a named statement, or Flush: messages that leave no portal
    /// behind and nothing another connection cannot have prepared again (an unnamed statement
    /// must stay on its connection until its Sync).
    static func isStatementMessage(_ message: RawMessage) -> Bool {
        var body = message.body
        switch message.type {
        case FrontendMessageType.flush:
            return true
        case FrontendMessageType.parse:
            return body.readNullTerminatedString()?.isEmpty == false
        case FrontendMessageType.describe, FrontendMessageType.close:
            return body.readInteger(as: UInt8.self) == UInt8(ascii: "S") && body.readNullTerminatedString()?.isEmpty == false
        default:
            return false
        }
    }

    static let syncMessage: ByteBuffer = {
        var bytes = ByteBuffer()
        bytes.writeInteger(FrontendMessageType.sync)
        bytes.writeInteger(Int32(4))
        return bytes
    }()
}
