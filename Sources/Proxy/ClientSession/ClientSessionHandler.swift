import Foundation
import Logging
import NIOCore
import PostgresWire
import Routing

/// One client connection on its channel: feeds the session's events to its
/// ``ClientSessionMachine`` and performs the actions it returns (writes, leases, timers, the
/// end). Holds only what needs I/O: the channel, the session's backend connections, the timers
/// and the runtime. Lives on the client channel's event loop; its backend connections live on
/// the same loop.
final class ClientSessionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let runtime: ProxyRuntime
    let pool: BackendPool
    let settings: ProxySettings
    let sessions: SessionRegistry
    let sessionID: UInt64
    var logger: Logger

    var context: ChannelHandlerContext!
    /// Everything the session decides.
    var machine: ClientSessionMachine
    /// Who connected (a copy of the machine's, for pool keys, routing and the admin API).
    var startup: StartupParameters? {
        didSet { startupKey = startup.map { pool.internedKey(PoolKey(nodeID: 0, startup: $0)) } }
    }
    /// The pool key of `startup`, made once (``PoolKey/onNode(_:)`` for each node's).
    private(set) var startupKey: PoolKey?
    /// The session's connection to the primary (held from login to the end).
    var primaryConnection: BackendConnection?
    /// Connections to other nodes, leased when routing first sends them something.
    var standbyConnections: [Int: BackendConnection] = [:]
    /// The client's cancel key (from login to the end).
    var cancelRegistration: CancelRegistry.Registration?
    /// Where the client's cancel requests go now.
    var cancelRoute = CancelRoute()
    var slotRequestID: UInt64?
    var slotRequestedAt: NIODeadline?
    var timers: [ClientSessionMachine.Timer: Scheduled<Void>] = [:]
    var remoteAddress: String?
    /// When the client connected (seconds since 1970).
    let startedAt = Date().timeIntervalSince1970

    // Routing (see ClientSessionHandler+Dispatch.swift).
    /// Read/write splitting as configured, when the session balances reads.
    var routingConfiguration: RoutingConfiguration?
    /// Nodes this session could not connect to.
    var unusableNodes: Set<Int> = []
    /// Load-balance candidates derived from the cluster state, kept until it changes.
    var routingCandidates: [LoadBalanceSelector.Candidate] = []
    var routingReadable: [Int] = []
    var candidatesGeneration = -1
    var random = SplitMix64(seed: 0)
    var sessionFacts: SessionCatalogFacts?

    // Transaction mode (see ClientSessionHandler+Pooling.swift).
    /// The client gives its connections back between units of work.
    var transactionMode = false
    /// The session's primary (its connection is held only during units of work in transaction mode).
    var primaryNodeID: Int?
    /// The clear-text password the client gave (allow_clear_text_frontend_auth), for new connections.
    var clientPassword: String?
    var statementMapper = StatementNameMapper()
    var mappedScratch: [StatementNameMapper.Outgoing] = []
    /// The client's settings when the current unit of work leased its first connection.
    var settingsAtUnitStart: SessionSettings?
    /// Leases waiting for a free connection: the node and the pool's waiter id (cancelled when
    /// the session ends). At most one per node, usually none or one: a list, not a dictionary
    /// that would hash at every lease.
    var leaseWaits: [(node: Int, id: UInt64)] = []
    /// The login's wait for a failover to settle the primary, once it began.
    var primaryGateWait: PrimaryGateWait?
    /// Transaction mode: what the login's connection told, from the lease to the login reply.
    var loginReply: LoginReply?
    /// Transaction mode: the login tried again after its primary was unreachable (it does once).
    var loginTriedAgain = false
    /// Transaction mode: a unit of work waiting for the failover of its unreachable primary.
    var unitAwaitingFailover: UnitAwaitingFailover?
    /// A session ending while a backend message was half forwarded: the rest of it first.
    var endingAfterMessage: EndingAfterMessage?

    /// Reused buffers: the machine's actions, the connections written to since the last flush.
    /// One list per nesting level of `run` (a lease served at once runs the machine again).
    var spareActions: [[ClientSessionMachine.Action]] = []
    var touched: [BackendConnection] = []
    /// Whether the client channel has writes not flushed yet (an empty flush still costs).
    var wroteClient = false
    /// Whether the client channel is read (backpressure), as last set.
    var readingClient = true
    /// Whether the client channel takes writes, as its last writability change said.
    var clientWritable = true

    /// The certificate this connection's TLS handshake presents (taken when the connection was
    /// accepted, so that a reload during the login cannot change what SCRAM binds to).
    let clientTLS: ClientTLS?

    init(runtime: ProxyRuntime, pool: BackendPool, sessions: SessionRegistry, sessionID: UInt64,
         clientTLS: ClientTLS? = nil) {
        self.clientTLS = clientTLS
        self.runtime = runtime
        self.pool = pool
        self.sessions = sessions
        self.sessionID = sessionID
        self.settings = runtime.settings
        self.machine = ClientSessionMachine(settings: runtime.settings, answersAdminCommands: runtime.adminCommands != nil)
        var logger = runtime.logger
        logger[metadataKey: "session"] = "\(sessionID)"
        self.logger = logger
    }

    /// Feeds one event to the machine and performs what it returns.
    func run(_ event: (inout ClientSessionMachine, inout Environment, inout [ClientSessionMachine.Action]) -> Void) {
        var actions = spareActions.popLast() ?? []
        var env = Environment(handler: self)
        event(&machine, &env, &actions)
        perform(actions)
        actions.removeAllKeepingCapacity()
        if spareActions.count < 4 { spareActions.append(actions) }
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The context holds this handler: keeping it after the channel is gone would keep both
    /// (and everything the session held) forever.
    func handlerRemoved(context: ChannelHandlerContext) {
        run { machine, _, actions in machine.clientLeft(into: &actions) }
        for timer in timers.values { timer.cancel() }
        timers.removeAll()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        sessions.add(self)
        remoteAddress = context.channel.remoteAddress?.ipAddress.map(Self.unmappingIPv4)
        context.fireChannelActive()
        let limit = settings.numInitChildren * settings.listenBacklogMultiplier
        let admitted = runtime.connections.admitWithoutSlot(limit: limit)
        if !admitted, runtime.connections.shouldLogRefusal(now: Int64(NIODeadline.now().uptimeNanoseconds)) {
            logger.warning("client refused: too many connections wait for a slot",
                           metadata: ["limit": "\(limit)", "remote": "\(remoteAddress ?? "local")"])
        }
        run { machine, _, actions in machine.clientConnected(admitted: admitted, into: &actions) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        sessions.traffic.fromClients &+= bytes.readableBytes
        run { machine, env, actions in machine.clientBytes(bytes, &env, now: { .now() }, into: &actions) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        clientWritable = context.channel.isWritable
        updateReading()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("client connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        run { machine, _, actions in machine.clientLeft(into: &actions) }
    }

    /// A dual-stack socket reports IPv4 clients as `::ffff:a.b.c.d`; pool_hba.conf and the logs
    /// want `a.b.c.d`.
    static func unmappingIPv4(_ address: String) -> String {
        let prefix = "::ffff:"
        guard address.lowercased().hasPrefix(prefix), address.contains(".") else { return address }
        return String(address.dropFirst(prefix.count))
    }

    // MARK: Backpressure

    /// Sets which channels are read, as the machine's ``ClientSessionMachine/readingPlan(backendsWritable:)``
    /// says; the backends are read only while the client takes writes.
    func updateReading() {
        guard case .forwarding = machine.phase else { return }
        var backendsWritable = primaryConnection?.isWritable ?? true
        for connection in standbyConnections.values where !connection.isWritable { backendsWritable = false }
        let plan = machine.readingPlan(backendsWritable: backendsWritable)
        // A session ending after the rest of a message, or waiting for a failover to settle its
        // new primary, reads nothing more from its client.
        let readClient = plan.client && endingAfterMessage == nil && !followsFailover
        if readClient != readingClient {
            readingClient = readClient
            context.channel.setOption(ChannelOptions.autoRead, value: readClient).whenFailure { _ in }
        }
        if let primaryConnection { setReading(primaryConnection, clientWritable && plan.primary) }
        for connection in standbyConnections.values { setReading(connection, clientWritable) }
    }

    /// Reads nothing more from the client until ``updateReading()`` allows it again (a session
    /// that must end, or that waits for a failover).
    func stopReadingClient() {
        readingClient = false
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
    }

    /// Flushes the client channel when something was written to it since the last flush.
    func flushClientIfWritten() {
        guard wroteClient else { return }
        wroteClient = false
        context.flush()
    }

    func setReading(_ connection: BackendConnection, _ reading: Bool) {
        guard connection.isReading != reading else { return }
        connection.isReading = reading
        connection.channel.setOption(ChannelOptions.autoRead, value: reading).whenFailure { _ in }
    }

    // MARK: The admin API's view

    /// The session as the admin API and metrics show it.
    var snapshot: ProxySnapshot.Session {
        let state: String
        switch machine.phase {
        case .forwarding:
            if allConnections.contains(where: { !$0.tracker.isQuiescent }) || !(machine.dispatch?.isIdle ?? true) {
                state = "active"
            } else if transactionMode, machine.dispatch?.pooled?.isPinned == false, primaryConnection == nil {
                state = "idle"
            } else {
                switch primaryConnection?.tracker.transactionStatus ?? .idle {
                case .idle: state = "idle"
                case .inTransaction: state = "idle in transaction"
                case .failed: state = "idle in transaction (aborted)"
                }
            }
        case .awaitingSlot:
            state = "waiting"
        default:
            state = "starting"
        }
        return ProxySnapshot.Session(
            id: sessionID, user: startup?.user ?? "", database: startup?.database ?? startup?.user ?? "",
            applicationName: startup?["application_name"] ?? "", clientAddress: remoteAddress ?? "local",
            state: state, since: startedAt, backendNodes: allConnections.map(\.node.id),
            poolMode: transactionMode ? "transaction" : "session",
            pinned: (machine.dispatch?.pooled?.pins.map(\.rawValue) ?? []).sorted(),
            preparedStatements: transactionMode ? statementMapper.statements.count : 0)
    }

    /// Every connection of the session: the primary first.
    var allConnections: [BackendConnection] {
        (primaryConnection.map { [$0] } ?? []) + standbyConnections.values
    }

    /// The first connection of the session (the primary's first) for which `test` holds; unlike
    /// ``allConnections`` it collects nothing, for what is asked at every unit of work.
    func firstConnection(where test: (BackendConnection) -> Bool) -> BackendConnection? {
        if let primaryConnection, test(primaryConnection) { return primaryConnection }
        return standbyConnections.values.first(where: test)
    }

    /// A cancel request for the client's key arrived (on this session's loop).
    func cancelRequested() {
        guard let node = cancelRoute.cancelRequested(), let connection = connection(for: node) else { return }
        connection.sendCancel()
    }

    func connection(for node: Int) -> BackendConnection? {
        if let primaryConnection, primaryConnection.node.id == node { return primaryConnection }
        return standbyConnections[node]
    }
}
