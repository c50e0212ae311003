import Cluster
import NIOCore
import PostgresWire
import Routing

/// What the dispatch machine asks its session about while it decides: the state of the node
/// connections and the cluster's view of the nodes. The channel handler implements it over its
/// connections and the cluster state; tests implement it with plain values.
protocol DispatchEnvironment {
    /// Whether the session holds a connection to `node`.
    func isConnected(_ node: Int) -> Bool
    /// Whether `node`'s connection has answered everything it was sent (no connection: true).
    func isQuiescent(_ node: Int) -> Bool
    /// Whether what `node` sent so far ends on a message boundary.
    func isAtMessageBoundary(_ node: Int) -> Bool
    /// The nodes routing may use now.
    mutating func routingNodes() -> RoutingNodes
    /// A node drawn for statement-level load balancing.
    mutating func pick() -> Int?
    /// prefer_lower_delay_standby: the readable standby with the least delay.
    mutating func leastDelayed() -> Int?
}

/// Catalog answers for one session, noting the questions it could not answer yet.
protocol SessionFacts: CatalogFacts {
    /// The facts asked for and not known since the last call.
    func takeMisses() -> [CatalogFactsCache.Key]
}

extension SessionCatalogFacts: SessionFacts {}

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

        init(message: RawMessage, decision: RouteDecision,
             completes: [(query: QueryClassification, routed: RoutedQuery)]? = nil, swallowed: Bool = false) {
            self.message = message
            self.decision = decision
            self.completes = completes
            self.swallowed = swallowed
        }
    }

    /// Where a named protocol-level prepared statement (Parse) lives, and what it is.
    struct StatementPlacement {
        var parse: RawMessage
        var query: QueryClassification
        var routed: RoutedQuery
        var nodes: Set<Int>
    }

    /// What happens to a piece of a node's output.
    enum OutputDisposition: Equatable {
        case forward
        /// Kept by the machine until the output node's next boundary.
        case held
        case dropped
    }

    let primary: Int
    private(set) var routing: RoutingSession
    /// The route whose answers are being forwarded.
    private(set) var currentRoute = RouteDecision.primary
    private(set) var waiting: [PendingMessage] = []
    /// A large message's head went out and its rest is streaming: nothing else is sent.
    private(set) var streamOpen = false
    private var routedQueries: [(statements: [(query: QueryClassification, routed: RoutedQuery)], output: Int)] = []
    private var heldPrimaryOutput: ByteBuffer?
    /// Where the last batch without a Sync went: the next batches follow it until a Sync.
    private var unsyncedRoute: RouteDecision?
    /// Extended-protocol messages of the batch being received (up to its Sync).
    private(set) var extendedBatch: [RawMessage] = []
    private var extendedBatchBytes = 0
    /// Named protocol-level prepared statements (Parse), and where they live.
    private(set) var protocolStatements: [String: StatementPlacement] = [:]
    /// Named portals and where they were bound.
    private(set) var portals: [String: RouteDecision] = [:]
    /// ReadyForQuery messages still to drop per node (answers to SwiftPool's own messages).
    private var swallowing: [Int: Int] = [:]
    private var leasing: Set<Int> = []
    /// Client messages held while catalog look-ups that a routing decision needs run (nil: none).
    private(set) var heldForFacts: [RawMessage]?
    /// The facts the statement being routed has already waited for: if they are still unknown
    /// (the look-up failed or took too long), it goes to the primary.
    private var factsAwaited: Set<CatalogFactsCache.Key> = []
    /// Every decision is the primary (no read/write splitting).
    private let everyDecisionIsPrimary: Bool
    /// Primary only: what each protocol-level statement counts as when it is executed.
    private var statementCategories: [String: [StatementCategory]] = [:]

    init(primary: Int, routing: RoutingSession) {
        self.primary = primary
        self.routing = routing
        self.everyDecisionIsPrimary = !routing.settings.loadBalanceMode
    }

    /// A session without read/write splitting: every decision is the primary.
    static func primaryOnly(_ primary: Int) -> DispatchMachine {
        var settings = RoutingSettings()
        settings.loadBalanceMode = false
        return DispatchMachine(primary: primary, routing: RoutingSession(settings: settings, loadBalanceNode: primary))
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
        if let count = swallowing[node], count > 0 { return .dropped }
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
        if let count = swallowing[node], count > 0 {
            swallowing[node] = count - 1
            if !waiting.isEmpty { dispatch(&env, into: &actions) }
            return
        }
        let output = Self.outputNode(of: currentRoute, primary: primary)
        if node == output, let head = routedQueries.first, head.output == output {
            routedQueries.removeFirst()
            for (query, routed) in head.statements {
                routing.completed(query, routed: routed, succeeded: !failed, facts: facts)
            }
            routing.readyForQuery(status)
            // Unnamed and named portals end with the transaction.
            if status == .idle, !portals.isEmpty { portals.removeAll() }
        }
        if let held = heldPrimaryOutput, node == output, env.isQuiescent(node), env.isAtMessageBoundary(primary) {
            heldPrimaryOutput = nil
            actions.append(.writeClient(held))
        }
        if !waiting.isEmpty { dispatch(&env, into: &actions) }
    }

    /// A connection to `node` was leased for the session.
    mutating func leased<E: DispatchEnvironment>(_ node: Int, _ env: inout E, into actions: inout [Action]) {
        leasing.remove(node)
        dispatch(&env, into: &actions)
    }

    /// `node` cannot be used by this session: what waited for it goes to the primary.
    mutating func nodeUnavailable<E: DispatchEnvironment>(_ node: Int, _ env: inout E, into actions: inout [Action]) {
        leasing.remove(node)
        if routing.loadBalanceNode == node { routing.replaceLoadBalanceNode(with: primary) }
        for index in waiting.indices {
            waiting[index].decision = Self.removing(node, from: waiting[index].decision)
        }
        dispatch(&env, into: &actions)
    }

    /// The session's connection to `node` (not the primary) is gone. `wasIdle`: it had answered
    /// everything, ended on a message boundary and was outside a transaction. Returns whether
    /// the session can go on without it: nothing the client waits for or still uses lives on
    /// that node only. Then its statements are parsed again where they are next used, and the
    /// session's reads move to a node drawn by weight (the primary when session state, such as
    /// a SET, went to the lost node and a new node would lack it).
    mutating func nodeLost<E: DispatchEnvironment>(_ node: Int, wasIdle: Bool, _ env: inout E, into actions: inout [Action]) -> Bool {
        guard node != primary, wasIdle, !routing.dependsOn(node), (swallowing[node] ?? 0) == 0 else { return false }
        leasing.remove(node)
        if routing.loadBalanceNode == node {
            let replacement = routing.standbysHoldSessionState ? primary : (env.pick() ?? primary)
            routing.replaceLoadBalanceNode(with: replacement == node ? primary : replacement)
        }
        let reads: RouteDecision = routing.loadBalanceNode == primary ? .primary : .node(routing.loadBalanceNode)
        for name in protocolStatements.keys {
            protocolStatements[name]!.nodes.remove(node)
            if protocolStatements[name]!.routed.decision == .node(node) { protocolStatements[name]!.routed.decision = reads }
        }
        portals = portals.filter { !Self.nodes(of: $0.value, primary: primary).contains(node) }
        if let open = unsyncedRoute, Self.nodes(of: open, primary: primary).contains(node) { unsyncedRoute = nil }
        for index in waiting.indices {
            waiting[index].decision = Self.removing(node, from: waiting[index].decision)
        }
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
            var pending = PendingMessage(message: head, decision: waiting.last?.decision ?? currentRoute)
            pending.streamed = true
            waiting.append(pending)
        case FrontendMessageType.query, FrontendMessageType.functionCall:
            if !extendedBatch.isEmpty { routeExtendedBatch(&env, facts: facts, into: &actions) }
            var pending = PendingMessage(message: head, decision: .primary, completes: [])
            pending.streamed = true
            waiting.append(pending)
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

    // MARK: Primary only

    /// When every decision is the primary, nothing waits: no other node's answers to wait for,
    /// no statement to place, no catalog fact to learn. Messages go to the primary as they come
    /// (a read's messages in one write) and statements are only counted — a Query when it is
    /// sent, a protocol-level statement at each Bind — by their first keyword, the full
    /// classification being needed only for a multi-statement query or a WITH.
    private mutating func forwardToPrimary(_ messages: some Sequence<RawMessage>, run: ByteBuffer?,
                                           into actions: inout [Action]) {
        let messages = Array(messages)
        // The Terminate must not reach the pooled connection: then the messages go one by one.
        let wholeRun = run != nil && !messages.contains { $0.type == FrontendMessageType.terminate }
        let first = actions.count
        for message in messages {
            var body = message.body
            switch message.type {
            case FrontendMessageType.terminate:
                actions.append(.terminate)
                return
            case FrontendMessageType.query:
                let categories = Self.categories(ofQueryText: body)
                for category in categories { actions.append(.count(node: primary, category)) }
                if categories.count != 1 || categories[0] == .other {
                    // DEALLOCATE and DISCARD remove protocol-level statements too.
                    let text = body.readNullTerminatedString() ?? ""
                    for statement in SQLClassifier.classify(query: text).statements {
                        switch statement.kind {
                        case .deallocate(let name?): statementCategories[name] = nil
                        case .deallocate(nil), .discard: statementCategories.removeAll()
                        default: break
                        }
                    }
                }
            case FrontendMessageType.parse:
                let name = body.readNullTerminatedString() ?? ""
                statementCategories[name] = Self.categories(ofQueryText: body)
            case FrontendMessageType.bind:
                _ = body.readNullTerminatedString()
                for category in statementCategories[body.readNullTerminatedString() ?? ""] ?? [] {
                    actions.append(.count(node: primary, category))
                }
            case FrontendMessageType.close:
                if body.readInteger(as: UInt8.self) == UInt8(ascii: "S") {
                    statementCategories[body.readNullTerminatedString() ?? ""] = nil
                }
            default:
                break
            }
            if wholeRun {
                actions.append(.track(node: primary, type: message.type))
            } else {
                actions.append(.write(node: primary, bytes: message.bytes, type: message.type))
            }
        }
        if wholeRun, let run, actions.count > first { actions.append(.writeRun(node: primary, bytes: run)) }
    }

    /// The counters a query text (a Query body, or the rest of a Parse body: text up to its
    /// NUL) counts in: its first keyword says it; a WITH, a leading block comment or several
    /// statements are classified.
    static func categories(ofQueryText body: ByteBuffer) -> [StatementCategory] {
        let all = body.readableBytesView
        let view = all[..<(all.firstIndex(of: 0) ?? all.endIndex)]
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var index = view.startIndex
        while index < view.endIndex {
            let byte = view[index]
            if isSpace(byte) {
                index += 1
            } else if byte == UInt8(ascii: "-"), index + 1 < view.endIndex, view[index + 1] == UInt8(ascii: "-") {
                while index < view.endIndex, view[index] != 0x0A { index += 1 }
            } else if byte == UInt8(ascii: "/") {
                return classified(body)
            } else {
                break
            }
        }
        if index == view.endIndex { return [] }
        var word: UInt64 = 0
        var length = 0
        while index < view.endIndex {
            let byte = view[index] | 0x20
            guard byte >= UInt8(ascii: "a"), byte <= UInt8(ascii: "z") else { break }
            length += 1
            if length <= 8 { word = word << 8 | UInt64(byte) }
            index += 1
        }
        if let semicolon = view[index...].firstIndex(of: UInt8(ascii: ";")),
           view[(semicolon + 1)...].contains(where: { !isSpace($0) && $0 != UInt8(ascii: ";") }) {
            return classified(body)
        }
        guard length <= 8 else { return [.other] }
        switch word {
        case Self.keyword("select"), Self.keyword("values"), Self.keyword("table"): return [.select]
        case Self.keyword("insert"): return [.insert]
        case Self.keyword("update"): return [.update]
        case Self.keyword("delete"): return [.delete]
        case Self.keyword("create"), Self.keyword("alter"), Self.keyword("drop"), Self.keyword("truncate"): return [.ddl]
        case Self.keyword("with"): return classified(body)
        default: return [.other]
        }
    }

    private static func keyword(_ text: StaticString) -> UInt64 {
        var word: UInt64 = 0
        let bytes = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        for byte in bytes { word = word << 8 | UInt64(byte) }
        return word
    }

    private static func classified(_ body: ByteBuffer) -> [StatementCategory] {
        var body = body
        let text = body.readNullTerminatedString() ?? ""
        return SQLClassifier.classify(query: text).statements.map { category(of: $0.kind) }
    }

    // MARK: Routing

    private mutating func enqueue<E: DispatchEnvironment, F: SessionFacts>(
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
            let text = body.readString(length: max(0, body.readableBytes - 1)) ?? ""
            var (query, routed) = route(text, &env, facts: facts)
            if let misses = factsToWaitFor(routed, facts: facts) { return waitForFacts(misses, holding: [message], into: &actions) }
            if !factsAwaited.isEmpty { factsAwaited.removeAll() }
            forgetDeallocatedStatements(query)
            if let open = unsyncedRoute {
                // An extended exchange left without a Sync (asyncpg's prepare: Parse, Describe,
                // Flush) ends with this query, on the node it was on.
                routed.decision = open
                unsyncedRoute = nil
            }
            waiting.append(PendingMessage(message: message, decision: routed.decision, completes: [(query, routed)]))
        case FrontendMessageType.copyData, FrontendMessageType.copyDone, FrontendMessageType.copyFail:
            waiting.append(PendingMessage(message: message, decision: waiting.last?.decision ?? currentRoute))
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
    private mutating func route<E: DispatchEnvironment, F: SessionFacts>(
        _ text: String, _ env: inout E, facts: F
    ) -> (QueryClassification, RoutedQuery) {
        let query = SQLClassifier.classify(query: text)
        guard routing.settings.loadBalanceMode else {
            // Primary only: nothing to ask the cluster or the catalog.
            let routed = routing.route(query, text: text, nodes: RoutingNodes(primary: primary, readable: []),
                                       facts: facts, pick: { nil })
            return (query, routed)
        }
        let nodes = env.routingNodes()
        let routed = routing.route(query, text: text, nodes: nodes, facts: facts,
                                   pick: { env.pick() }, leastDelayed: { env.leastDelayed() })
        return (query, routed)
    }

    /// The catalog facts `routed` went to the primary for, when the statement should wait for
    /// their look-ups instead (the first time a name is seen); nil to send it as decided.
    private func factsToWaitFor(_ routed: RoutedQuery, facts: some SessionFacts) -> [CatalogFactsCache.Key]? {
        guard routing.settings.loadBalanceMode else { return nil }
        let misses = facts.takeMisses()
        guard routed.reason == .unknownFacts else { return nil }
        // A statement may need several facts, learned one after the other (a relation, then
        // a function); it waits once for each.
        let fresh = misses.filter { !factsAwaited.contains($0) }
        return fresh.isEmpty ? nil : fresh
    }

    private mutating func waitForFacts(_ misses: [CatalogFactsCache.Key], holding messages: [RawMessage],
                                       into actions: inout [Action]) {
        heldForFacts = messages
        factsAwaited.formUnion(misses)
        actions.append(.waitForFacts(misses))
    }

    /// Routes the extended batch received so far as a unit: its Parse messages are classified
    /// like simple queries, and Bind/Describe/Execute/Close follow the statement or portal they
    /// name.
    private mutating func routeExtendedBatch<E: DispatchEnvironment, F: SessionFacts>(
        _ env: inout E, facts: F, streamedHead: Bool = false, into actions: inout [Action]
    ) {
        let batch = extendedBatch
        extendedBatch.removeAll()
        extendedBatchBytes = 0
        let endsWithSync = batch.last?.type == FrontendMessageType.sync

        var decisions: [RouteDecision] = []
        var completed: [(query: QueryClassification, routed: RoutedQuery)] = []
        var parsedHere: [String: (QueryClassification, RoutedQuery)] = [:]
        var usedStatements: [String] = []
        var closedStatements: [String] = []
        var boundPortals: [String] = []
        var closedPortals: [String] = []
        for (index, message) in batch.enumerated() {
            var body = message.body
            switch message.type {
            case FrontendMessageType.parse where streamedHead && index == batch.count - 1:
                // A statement too large to hold is not classified: the primary runs it, and it
                // lives there only.
                let name = body.readNullTerminatedString() ?? ""
                protocolStatements[name] = nil
                decisions.append(.primary)
            case FrontendMessageType.parse:
                let name = body.readNullTerminatedString() ?? ""
                let text = body.readNullTerminatedString() ?? ""
                let (query, routed) = route(text, &env, facts: facts)
                if let misses = factsToWaitFor(routed, facts: facts) {
                    // Route the whole batch again once the facts are known.
                    return waitForFacts(misses, holding: batch, into: &actions)
                }
                decisions.append(routed.decision)
                completed.append((query, routed))
                parsedHere[name] = (query, routed)
            case FrontendMessageType.bind:
                let portal = body.readNullTerminatedString() ?? ""
                let statement = body.readNullTerminatedString() ?? ""
                if parsedHere[statement] == nil {
                    usedStatements.append(statement)
                    // Executing a statement prepared earlier counts like running it again.
                    if let placement = protocolStatements[statement] { completed.append((placement.query, placement.routed)) }
                }
                if !portal.isEmpty { boundPortals.append(portal) }
            case FrontendMessageType.describe, FrontendMessageType.close:
                let kind = body.readInteger(as: UInt8.self)
                let name = body.readNullTerminatedString() ?? ""
                if kind == UInt8(ascii: "S") {
                    if parsedHere[name] == nil { usedStatements.append(name) }
                    if message.type == FrontendMessageType.close { closedStatements.append(name) }
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
        for name in usedStatements {
            // A statement from an earlier batch: where it was routed then (unknown: the primary,
            // which will report the error). In a transaction that wrote, a read prepared on a
            // standby runs on the primary (parsed there first), as Pgpool-II decides again at Bind.
            let decision = protocolStatements[name]?.routed.decision ?? .primary
            if writing, case .node = decision { decisions.append(.primary) } else { decisions.append(decision) }
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
        let targetNodes = Set(Self.nodes(of: target, primary: primary))

        // Parse-before-bind: statements this batch uses must exist on its nodes.
        for name in Set(usedStatements) {
            guard var placement = protocolStatements[name] else { continue }
            for node in targetNodes.subtracting(placement.nodes).sorted() {
                enqueueOwnBatch(placement.parse, to: node)
                placement.nodes.insert(node)
            }
            protocolStatements[name] = placement
        }
        for message in batch {
            waiting.append(PendingMessage(message: message, decision: target,
                                          completes: message.type == FrontendMessageType.sync ? completed : nil))
        }
        if streamedHead { waiting[waiting.count - 1].streamed = true }
        if !endsWithSync {
            // No ReadyForQuery will report on these statements: count them as done now (a failed
            // write still pins reads to the primary, which is the safe side).
            for (query, routed) in completed { routing.completed(query, routed: routed, succeeded: true, facts: facts) }
        }
        for (name, (query, routed)) in parsedHere {
            protocolStatements[name] = StatementPlacement(
                parse: batch.first { $0.type == FrontendMessageType.parse && Self.statementName(of: $0) == name }!,
                query: query, routed: routed, nodes: targetNodes)
        }
        for name in closedStatements {
            // Closed on the batch's nodes; elsewhere SwiftPool closes it itself.
            if let placement = protocolStatements.removeValue(forKey: name) {
                for node in placement.nodes.subtracting(targetNodes).sorted() {
                    var close = ByteBuffer()
                    close.writeMessage(type: FrontendMessageType.close) {
                        $0.writeInteger(UInt8(ascii: "S"))
                        $0.writeNullTerminatedString(name)
                    }
                    enqueueOwnBatch(RawMessage(type: FrontendMessageType.close, bytes: close), to: node)
                }
            }
        }
        for portal in boundPortals { portals[portal] = target }
        for portal in closedPortals { portals[portal] = nil }
        if !factsAwaited.isEmpty { factsAwaited.removeAll() }
    }

    /// Queues one message of SwiftPool's own, with a Sync, whose answers the client never sees.
    private mutating func enqueueOwnBatch(_ message: RawMessage, to node: Int) {
        let decision: RouteDecision = node == primary ? .primary : .node(node)
        var sync = ByteBuffer()
        FrontendMessageEncoder.sync(into: &sync)
        waiting.append(PendingMessage(message: message, decision: decision, swallowed: true))
        waiting.append(PendingMessage(message: RawMessage(type: FrontendMessageType.sync, bytes: sync),
                                      decision: decision, swallowed: true))
    }

    /// SQL DEALLOCATE and DISCARD also remove protocol-level prepared statements.
    private mutating func forgetDeallocatedStatements(_ query: QueryClassification) {
        for statement in query.statements {
            switch statement.kind {
            case .deallocate(let name?): protocolStatements[name] = nil
            case .deallocate(nil), .discard: protocolStatements.removeAll()
            default: break
            }
        }
    }

    // MARK: Dispatching

    /// Sends waiting messages in order, switching nodes only when every node of the previous
    /// route has answered everything it was sent.
    private mutating func dispatch<E: DispatchEnvironment>(_ env: inout E, into actions: inout [Action]) {
        while !streamOpen, let next = waiting.first {
            if next.completes != nil, routedQueries.count >= Self.maxStatementsInFlight { return }
            if next.message.type == FrontendMessageType.terminate {
                waiting.removeAll()
                actions.append(.terminate)
                return
            }
            let targets = Self.nodes(of: next.decision, primary: primary)
            var missing = false
            for node in targets where !env.isConnected(node) {
                missing = true
                if leasing.insert(node).inserted { actions.append(.lease(node: node)) }
            }
            guard !missing else { return }
            if next.decision != currentRoute {
                let busy = Self.nodes(of: currentRoute, primary: primary).contains { !env.isQuiescent($0) }
                guard !busy else { return }
                currentRoute = next.decision
                actions.append(.setCancelTarget(node: Self.outputNode(of: currentRoute, primary: primary)))
            }
            // Answers of SwiftPool's own messages must not mix with the client's.
            guard !targets.contains(where: { (swallowing[$0] ?? 0) > 0 }) else { return }
            waiting.removeFirst()
            let plainBegin = next.completes?.contains { $0.routed.plainBeginForStandbys } ?? false
            for node in targets {
                var bytes = next.message.bytes
                if node != primary, plainBegin, next.message.type == FrontendMessageType.query {
                    bytes = ByteBuffer()
                    FrontendMessageEncoder.query("BEGIN", into: &bytes)
                }
                actions.append(.write(node: node, bytes: bytes, type: next.message.type))
                if next.swallowed, next.message.type == FrontendMessageType.sync { swallowing[node, default: 0] += 1 }
            }
            if let completes = next.completes, !next.swallowed {
                routedQueries.append((completes, Self.outputNode(of: next.decision, primary: primary)))
                for (query, _) in completes {
                    for statement in query.statements {
                        let category = Self.category(of: statement.kind)
                        for node in targets { actions.append(.count(node: node, category)) }
                    }
                }
            }
            if next.streamed {
                streamOpen = true
                actions.append(.streamTo(nodes: targets))
            }
        }
    }

    // MARK: Helpers

    static func statementName(of parse: RawMessage) -> String {
        var body = parse.body
        return body.readNullTerminatedString() ?? ""
    }

    /// One destination for a batch: all reads on one node stay there; anything else, or reads
    /// for different nodes, goes to the primary; BOTH statements alone go to their nodes.
    static func combine(_ decisions: [RouteDecision], current: RouteDecision) -> RouteDecision {
        guard let first = decisions.first else { return current }
        if decisions.allSatisfy({ $0 == first }) { return first }
        return .primary
    }

    static func removing(_ id: Int, from decision: RouteDecision) -> RouteDecision {
        switch decision {
        case .node(id): return .primary
        case .nodes(let list):
            let rest = list.filter { $0 != id }
            return rest.count <= 1 ? .primary : .nodes(rest)
        default: return decision
        }
    }

    /// The counter a statement is counted in.
    static func category(of kind: StatementKind) -> StatementCategory {
        switch kind {
        case .select: return .select
        case .insert: return .insert
        case .update: return .update
        case .delete: return .delete
        case .ddl, .truncate: return .ddl
        default: return .other
        }
    }

    static func nodes(of decision: RouteDecision, primary: Int) -> [Int] {
        switch decision {
        case .primary: return [primary]
        case .node(let id): return [id]
        case .nodes(let list): return list
        }
    }

    /// The node whose answers the client sees.
    static func outputNode(of decision: RouteDecision, primary: Int) -> Int {
        switch decision {
        case .primary, .nodes: return primary
        case .node(let id): return id
        }
    }
}
