import Cluster
import NIOCore
import PostgresWire
import Routing

/// The forwarding part of a client session, as a value: client messages in, writes to nodes
/// out. Each simple query, and each extended-protocol batch up to its Sync, is classified and
/// routed by the session's ``RoutingSession`` (a session without read/write splitting has a
/// policy whose every answer is the primary: one pipeline for both). Messages wait in order
/// until the nodes they need are connected and the previous route's nodes have answered, so
/// answers never interleave; only the deciding node's output reaches the client (the
/// primary's asynchronous messages are held for a boundary, other nodes' answers to BOTH
/// statements are dropped). Named statements and portals are followed to the nodes they live
/// on; a statement used on a node it does not exist on is parsed there first with its answers
/// hidden (parse-before-bind). A statement whose route depends on catalog facts not known yet
/// waits for their look-up (``Action/waitForFacts(_:)``).
///
/// No I/O: the channel handler feeds events and performs the returned actions.
struct DispatchMachine {
    /// What the handler must do.
    enum Action: Equatable {
        /// Write `bytes` (a message of type `type`) to `node`'s connection.
        case write(node: Int, bytes: ByteBuffer, type: UInt8)
        /// A message of type `type` is on its way to `node` in a following ``writeRun(node:bytes:)``.
        case track(node: Int, type: UInt8)
        /// Write a run of whole client messages (tracked before) to `node` in one write.
        case writeRun(node: Int, bytes: ByteBuffer)
        /// Write bytes to the client.
        case writeClient(ByteBuffer)
        /// Lease a connection to `node` and report ``DispatchMachine/leased(_:_:into:)`` or
        /// ``DispatchMachine/nodeUnavailable(_:_:into:)``.
        case lease(node: Int)
        /// read_your_writes: a read goes to the primary because no standby has replayed the
        /// session's last write yet (counted).
        case readOnPrimaryForSessionWrites
        /// read_your_writes_wait: route what is held again after `milliseconds` (the read waits
        /// for a standby to replay the session's write).
        case waitForStandbys(milliseconds: Int)
        /// read_your_writes_wait: a read waited `milliseconds`, then went to a standby or (not
        /// `onStandby`) the primary.
        case standbyWaitEnded(milliseconds: Int, onStandby: Bool)
        /// Cancel requests of the client go to `node` from now on.
        case setCancelTarget(node: Int)
        /// Count a statement sent to `node`.
        case count(node: Int, StatementCategory)
        /// Report ``DispatchMachine/factsSettled(_:into:)`` once these look-ups are over (or
        /// after a short wait).
        case waitForFacts([CatalogFactsCache.Key])
        /// The client sent Terminate and everything before it went out: end the session.
        case terminate
        /// The head of a large message went to `nodes` (in a ``write(node:bytes:type:)`` before):
        /// the rest of its bytes go there as they arrive, then ``DispatchMachine/streamEnded(_:into:)``.
        case streamTo(nodes: [Int])
        /// Transaction mode: the client is kept on its connections from now on, for this reason.
        case pinned(PinReason)
        /// Transaction mode: a pinning statement was refused (transaction_pool_pinning = off).
        case refusedPinning(PinReason)
        /// Transaction mode: a DEALLOCATE ALL or DISCARD ALL was answered. `held`: the client's
        /// protocol-level statements are gone; otherwise its group failed and the client keeps
        /// them. The connections' caches are emptied either way (preparing again is safe).
        case statementsDeallocated(held: Bool)
        /// Transaction mode: write a Sync of SwiftPool's own to `node`, whose ReadyForQuery the
        /// client does not see: it closes an exchange of statement messages the client left
        /// open with a Flush, so that the connection can go back to the pool.
        case writeQuietSync(node: Int)
    }

    /// What a session holds at most of a client's messages while they wait for a node
    /// (queued statements, an extended batch up to its Sync, statements held for catalog
    /// look-ups): beyond it the client is not read until the queue drains; an extended batch
    /// beyond it goes out (to the primary) without waiting for its Sync. Also the bound of the
    /// primary's output held while another node answers, and of the bytes a client may pipeline
    /// behind an admin command.
    static let heldBytesLimit = 1 << 20
    /// Messages of this size or more (type byte included) stream through without being held
    /// whole.
    static let streamThreshold = 256 << 10
    /// Statements sent and not answered yet, at most: more wait (and count as held bytes).
    static let maxStatementsInFlight = 4096

    /// A client message and where it goes.
    struct PendingMessage {
        var message: RawMessage
        var decision: RouteDecision
        /// The routed statements this message completes at its ReadyForQuery (a Query, or the
        /// Sync of an extended batch).
        var completes: [(query: QueryClassification, routed: RoutedQuery)]?
        /// SwiftPool's own message (a Parse or Close the client did not send): its answers are
        /// dropped, up to and including its ReadyForQuery.
        var swallowed: Bool
        /// Only the head of a large message: the rest streams from the client once it is sent.
        var streamed = false
        /// Transaction mode: what the statements this message completes do to the session.
        var effects: [SessionEffect] = []
        /// A Sync of SwiftPool's own whose ReadyForQuery the client does not see.
        var quiet = false

        /// Every field at once: a message made whole is appended to `waiting` as it is, where one
        /// changed after its creation was copied into the queue (retaining all it holds).
        init(message: RawMessage, decision: RouteDecision,
             completes: [(query: QueryClassification, routed: RoutedQuery)]? = nil, swallowed: Bool = false,
             streamed: Bool = false, effects: [SessionEffect] = [], quiet: Bool = false) {
            self.message = message
            self.decision = decision
            self.completes = completes
            self.swallowed = swallowed
            self.streamed = streamed
            self.effects = effects
            self.quiet = quiet
        }
    }

    /// Where the last waiting message goes (else the current route), read without copying it.
    var lastWaitingDecision: RouteDecision {
        waiting.isEmpty ? currentRoute : waiting[waiting.count - 1].decision
    }

    /// Where a named protocol-level prepared statement (Parse) lives, and what it is.
    struct StatementPlacement {
        var parse: RawMessage
        var query: QueryClassification
        var routed: RoutedQuery
        var nodes: Set<Int>
        /// Transaction mode: what running the statement does to the session.
        var effects: [SessionEffect] = []
    }

    /// What happens to a piece of a node's output.
    enum OutputDisposition: Equatable {
        case forward
        /// Kept by the machine until the output node's next boundary.
        case held
        case dropped
    }

    /// Changes only when a transaction-mode session between units follows a failover
    /// (``primaryMoved(to:)``).
    var primary: Int
    var routing: RoutingSession
    /// The route whose answers are being forwarded.
    var currentRoute = RouteDecision.primary
    var waiting: [PendingMessage] = []
    /// A large message's head went out and its rest is streaming: nothing else is sent.
    var streamOpen = false
    var routedQueries: [(statements: [(query: QueryClassification, routed: RoutedQuery)], output: Int)] = []
    var heldPrimaryOutput: ByteBuffer?
    /// Where the last batch without a Sync went: the next batches follow it until a Sync.
    var unsyncedRoute: RouteDecision?
    /// Transaction mode: the open exchange (since the last Sync) holds only Parse, Describe and
    /// Close of statements and Flush: no portal, nothing executed.
    var unsyncedStatementsOnly = true
    /// Transaction mode: statements whose Parse was replaced by the refusal (it takes no
    /// parameters, so their Binds are sent without any).
    var refusedStatements: Set<String> = []
    /// Extended-protocol messages of the batch being received (up to its Sync).
    var extendedBatch: [RawMessage] = []
    var extendedBatchBytes = 0
    /// Named protocol-level prepared statements (Parse), and where they live.
    var protocolStatements: [String: StatementPlacement] = [:]
    /// Named portals and where they were bound.
    var portals: [String: RouteDecision] = [:]
    /// ReadyForQuery messages still to drop per node (answers to SwiftPool's own messages); a
    /// node with none has no entry, so that the usual empty map is tested without hashing.
    var swallowing: [Int: Int] = [:]
    /// Nodes a connection is being leased for: one or two, so a list (a set would hash at every
    /// unit of work).
    var leasing: [Int] = []
    /// Client messages held while catalog look-ups that a routing decision needs run (nil: none).
    var heldForFacts: [RawMessage]?
    /// The facts the statement being routed has already waited for: if they are still unknown
    /// (the look-up failed or took too long), it goes to the primary.
    var factsAwaited: Set<CatalogFactsCache.Key> = []
    /// Every decision is the primary (no read/write splitting).
    let everyDecisionIsPrimary: Bool
    /// read_your_writes: a statement that may have written ran in the open transaction.
    var writeUncommitted = false
    /// read_your_writes: the WAL sample current when the session's last write committed (nil:
    /// none since every standby caught up); reads go only to standbys that replayed a later one.
    var lastWriteSample: Int?
    /// read_your_writes_position: a WAL position (from another session) the session's reads wait
    /// for; nil once every readable standby has replayed it.
    var minimumPosition: UInt64?
    /// read_your_writes_wait: looks a held read has left before it goes to the primary (nil:
    /// no read waits).
    var standbyChecksLeft: Int?
    /// read_your_writes_wait: looks the held read has taken so far.
    var standbyChecks = 0
    /// Primary only: what each protocol-level statement counts as when it is executed.
    var statementCategories: [String: [StatementCategory]] = [:]
    /// Transaction mode: the server-session state the client built (nil in session mode).
    var pooled: PooledSessionState?
    /// Whether ``pooled`` is set (for the whole session): asked at every message, where
    /// `pooled != nil` would copy the state out first.
    let isPooled: Bool
    /// Transaction mode: whether statements that need one server session pin the client (else
    /// they are refused).
    var pinningAllowed = true
    /// Transaction mode: the effects of each statement group sent, in the order of
    /// ``routedQueries``.
    var completedEffects: [[SessionEffect]] = []
    /// Transaction mode: effects of an extended exchange sent without its Sync yet.
    var unsyncedEffects: [SessionEffect] = []

    /// `transactionPooling`: the client gives its connections back between units of work, so
    /// every statement is classified (the session's state and pins are followed).
    init(primary: Int, routing: RoutingSession, transactionPooling: Bool = false) {
        self.primary = primary
        self.routing = routing
        self.everyDecisionIsPrimary = !routing.settings.loadBalanceMode && !transactionPooling
        self.isPooled = transactionPooling
        if transactionPooling { pooled = PooledSessionState() }
    }

    /// A session without read/write splitting: every decision is the primary.
    static func primaryOnly(_ primary: Int, transactionPooling: Bool = false) -> DispatchMachine {
        var settings = RoutingSettings()
        settings.loadBalanceMode = false
        return DispatchMachine(primary: primary, routing: RoutingSession(settings: settings, loadBalanceNode: primary),
                               transactionPooling: transactionPooling)
    }

    /// Nothing waits, nothing is held, no batch is open.
    var isIdle: Bool { waiting.isEmpty && extendedBatch.isEmpty && heldForFacts == nil }

    /// Bytes of client messages held: waiting for a node, in the open extended batch, or for
    /// catalog look-ups (see ``heldBytesLimit``).
    var heldClientBytes: Int {
        if isIdle { return 0 }
        func size(_ messages: [RawMessage]) -> Int { messages.reduce(0) { $0 + $1.bytes.readableBytes } }
        return waiting.reduce(0) { $0 + $1.message.bytes.readableBytes } + extendedBatchBytes + size(heldForFacts ?? [])
    }

    /// Bytes of the primary's output held until the answering node reaches a boundary.
    var heldOutputBytes: Int { heldPrimaryOutput?.readableBytes ?? 0 }

    /// ``heldClientBytes`` and ``heldOutputBytes``, read in place: mutating only so that
    /// `dispatch?.heldBytes()` on a session's optional machine does not copy the whole machine,
    /// as reading a property through the optional does (twice per query).
    mutating func heldBytes() -> (client: Int, output: Int) {
        (heldClientBytes, heldOutputBytes)
    }

    /// Changes the routing parameters a session may set (PGPOOL SET).
    mutating func updateRoutingSettings(_ change: (inout RoutingSettings) -> Void) {
        change(&routing.settings)
    }

    // MARK: Events

    /// Complete client messages, in order (admin commands already taken out); `run`, when
    /// given, is the same messages as one contiguous buffer.
    mutating func clientMessages<E: DispatchEnvironment, F: SessionFacts>(
        _ messages: some Sequence<RawMessage>, run: ByteBuffer? = nil, _ env: inout E, facts: F, into actions: inout [Action]
    ) {
        if everyDecisionIsPrimary { return forwardToPrimary(messages, run: run, into: &actions) }
        for message in messages { enqueue(message, &env, facts: facts, into: &actions) }
        if heldForFacts == nil, extendedBatch.last?.type == FrontendMessageType.flush {
            // The client waits for answers before it sends a Sync: the batch goes out as it is.
            routeExtendedBatch(&env, facts: facts, into: &actions)
        }
        dispatch(&env, into: &actions)
    }

    /// The client's messages before an admin command: an open extended batch goes out now.
    mutating func flushBeforeLocalAnswer<E: DispatchEnvironment, F: SessionFacts>(
        _ env: inout E, facts: F, into actions: inout [Action]
    ) {
        if heldForFacts == nil, !extendedBatch.isEmpty { routeExtendedBatch(&env, facts: facts, into: &actions) }
        dispatch(&env, into: &actions)
    }

    /// Output of `node`: whether it goes to the client now.
    mutating func backendOutput(_ node: Int, _ bytes: ByteBuffer) -> OutputDisposition {
        if !swallowing.isEmpty, swallowing[node] != nil { return .dropped }
        if node == Self.outputNode(of: currentRoute, primary: primary) { return .forward }
        guard node == primary else { return .dropped }
        if heldPrimaryOutput == nil {
            heldPrimaryOutput = bytes
        } else {
            var bytes = bytes
            heldPrimaryOutput!.writeBuffer(&bytes)
        }
        return .held
    }

    /// `node` sent ReadyForQuery.
    mutating func backendReady<E: DispatchEnvironment, F: SessionFacts>(
        _ node: Int, status: TransactionStatus, failed: Bool, _ env: inout E, facts: F, into actions: inout [Action]
    ) {
        if !swallowing.isEmpty, let count = swallowing[node] {
            swallowing[node] = count > 1 ? count - 1 : nil
            if !waiting.isEmpty { dispatch(&env, into: &actions) }
            return
        }
        let output = Self.outputNode(of: currentRoute, primary: primary)
        if node == output, let head = routedQueries.first, head.output == output {
            routedQueries.takeFirst()
            if isPooled, !completedEffects.isEmpty {
                completedStatementGroup(completedEffects.takeFirst(), status: status, failed: failed, into: &actions)
            }
            for (query, routed) in head.statements {
                routing.completed(query, routed: routed, succeeded: !failed, facts: facts)
                if routing.settings.readYourWrites, Self.mayHaveWritten(query, routed) { writeUncommitted = true }
            }
            routing.readyForQuery(status)
            if writeUncommitted, status == .idle {
                // Committed (or rolled back: waiting for it costs nothing wrong).
                writeUncommitted = false
                lastWriteSample = env.currentWALSample()
            }
            // Unnamed and named portals end with the transaction.
            if status == .idle, !portals.isEmpty { portals.removeAll() }
        }
        if let held = heldPrimaryOutput, node == output, env.isQuiescent(node), env.isAtMessageBoundary(primary) {
            heldPrimaryOutput = nil
            actions.append(.writeClient(held))
        }
        if !waiting.isEmpty { dispatch(&env, into: &actions) }
    }

    /// `node` is no longer being leased for (each node is in `leasing` once).
    private mutating func stopLeasing(_ node: Int) {
        if let index = leasing.firstIndex(of: node) { leasing.remove(at: index) }
    }

    /// A connection to `node` was leased for the session.
    mutating func leased<E: DispatchEnvironment>(_ node: Int, _ env: inout E, into actions: inout [Action]) {
        stopLeasing(node)
        dispatch(&env, into: &actions)
    }

    /// `node` cannot be used by this session: what waited for it goes to the primary.
    mutating func nodeUnavailable<E: DispatchEnvironment>(_ node: Int, _ env: inout E, into actions: inout [Action]) {
        stopLeasing(node)
        if routing.loadBalanceNode == node { routing.replaceLoadBalanceNode(with: primary) }
        redirectWaiting(awayFrom: node)
        dispatch(&env, into: &actions)
    }

    /// What waits for `node`, which the session no longer reaches, goes to the other nodes of its
    /// route (the primary when none is left). SwiftPool's own messages for that node alone (a
    /// statement parsed before its Bind, with its Sync) are dropped instead: sent to the primary,
    /// a Parse of a name the primary has fails, and inside the client's transaction that hidden
    /// error would abort it, turning its COMMIT into a silent ROLLBACK.
    private mutating func redirectWaiting(awayFrom node: Int) {
        waiting.removeAll { $0.swallowed && $0.decision == .node(node) }
        for index in waiting.indices {
            waiting[index].decision = Self.removing(node, from: waiting[index].decision)
        }
    }

    /// The session's connection to `node` (not the primary) is gone. `wasIdle`: it had answered
    /// everything, ended on a message boundary and was outside a transaction. Returns whether
    /// the session can go on without it: nothing the client waits for or still uses lives on
    /// that node only. Then its statements are parsed again where they are next used, and the
    /// session's reads move to a node drawn by weight (the primary when session state, such as
    /// a SET, went to the lost node and a new node would lack it).
    mutating func nodeLost<E: DispatchEnvironment>(_ node: Int, wasIdle: Bool, _ env: inout E, into actions: inout [Action]) -> Bool {
        guard node != primary, wasIdle, !routing.dependsOn(node), swallowing[node] == nil else { return false }
        stopLeasing(node)
        if routing.loadBalanceNode == node {
            let replacement = routing.standbysHoldSessionState ? primary : (env.pick() ?? primary)
            routing.replaceLoadBalanceNode(with: replacement == node ? primary : replacement)
        }
        let reads: RouteDecision = routing.loadBalanceNode == primary ? .primary : .node(routing.loadBalanceNode)
        for name in protocolStatements.keys {
            protocolStatements[name]!.nodes.remove(node)
            let decision = protocolStatements[name]!.routed.decision
            // A statement for several nodes (BEGIN, SET, …) no longer names the lost one.
            protocolStatements[name]!.routed.decision = decision == .node(node) ? reads : Self.removing(node, from: decision)
        }
        portals = portals.filter { !Self.nodes(of: $0.value, primary: primary).contains(node) }
        if let open = unsyncedRoute, Self.nodes(of: open, primary: primary).contains(node) { unsyncedRoute = nil }
        redirectWaiting(awayFrom: node)
        if Self.nodes(of: currentRoute, primary: primary).contains(node) {
            currentRoute = Self.removing(node, from: currentRoute)
            actions.append(.setCancelTarget(node: Self.outputNode(of: currentRoute, primary: primary)))
        }
        dispatch(&env, into: &actions)
        return true
    }

    /// The head of a message too large to hold (``streamThreshold``) arrived; the rest streams
    /// once the head is sent (``Action/streamTo(nodes:)``). Such a message goes where it must
    /// without being classified: a query or function call, and an extended batch that holds it,
    /// to the primary; COPY data where its COPY runs. Statements held for catalog look-ups go
    /// now, as if the look-ups had failed.
    mutating func largeMessage<E: DispatchEnvironment, F: SessionFacts>(
        _ head: RawMessage, _ env: inout E, facts: F, into actions: inout [Action]
    ) {
        if everyDecisionIsPrimary {
            if head.type == FrontendMessageType.query { actions.append(.count(node: primary, .other)) }
            actions.append(.write(node: primary, bytes: head.bytes, type: head.type))
            streamOpen = true
            actions.append(.streamTo(nodes: [primary]))
            return
        }
        if let held = heldForFacts {
            heldForFacts = nil
            for message in held { enqueue(message, &env, facts: facts, into: &actions) }
        }
        switch head.type {
        case FrontendMessageType.copyData, FrontendMessageType.copyDone, FrontendMessageType.copyFail:
            waiting.append(PendingMessage(message: head, decision: lastWaitingDecision, streamed: true))
        case FrontendMessageType.query, FrontendMessageType.functionCall:
            if !extendedBatch.isEmpty { routeExtendedBatch(&env, facts: facts, into: &actions) }
            var effects: [SessionEffect] = []
            if isPooled, head.type == FrontendMessageType.query {
                // Only the head is here: what its statements do to the session is read from
                // it (a pin is kept even when pinning is off: the query is already on its way).
                var body = head.body
                let text = body.readString(length: body.readableBytes) ?? ""
                effects = sessionEffects(SQLClassifier.classify(query: text), text: text)
            }
            waiting.append(PendingMessage(message: head, decision: .primary, completes: [], streamed: true, effects: effects))
            actions.append(.count(node: primary, .other))
        default:
            extendedBatch.append(head)
            routeExtendedBatch(&env, facts: facts, streamedHead: true, into: &actions)
        }
        dispatch(&env, into: &actions)
    }

    /// The large message being streamed has passed whole.
    mutating func streamEnded<E: DispatchEnvironment>(_ env: inout E, into actions: inout [Action]) {
        streamOpen = false
        dispatch(&env, into: &actions)
    }

    /// The look-ups a held statement waited for are over (or took too long): route what was held.
    mutating func factsSettled<E: DispatchEnvironment, F: SessionFacts>(
        _ env: inout E, facts: F, into actions: inout [Action]
    ) {
        guard let held = heldForFacts else { return }
        heldForFacts = nil
        clientMessages(held, &env, facts: facts, into: &actions)
    }
}
