import Foundation
import Logging
import NIOCore
import PostgresWire
import Routing

/// One client connection: startup, authentication, then forwarding between the client and its
/// backend connection until either side leaves. Lives on the client channel's event loop; its
/// backend connections live on the same loop.
final class ClientSessionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        case awaitingStartup
        case awaitingSlot(UInt64)
        case authenticating(ClientAuthMachine)
        case connectingBackend
        /// Deriving the user's SCRAM keys on the thread pool.
        case preparingAuthentication
        case forwarding
        case closed
    }

    let runtime: ProxyRuntime
    let pool: BackendPool
    var settings: ProxySettings
    let sessions: SessionRegistry
    let sessionID: UInt64
    var logger: Logger

    var context: ChannelHandlerContext!
    var phase = Phase.awaitingStartup
    /// The order of the login steps (see LoginMachine).
    var login = LoginMachine()
    var startupBuffer: ByteBuffer?
    var splitter: MessageSplitter
    var startup: StartupParameters?
    /// The session's connection to the primary (held from login to the end).
    var primaryConnection: BackendConnection?
    var clientKey: BackendKey?
    var holdsSlot = false
    /// Counted among the connections without a slot (``ConnectionStatistics/withoutSlot``).
    var countedWithoutSlot = false
    /// Beyond the cap of connections without a slot: refused once its startup packet arrives
    /// (so that the client can read the error), or closed after a second.
    var refusedAtCap = false
    /// An admin command waits for the backends or is being answered; client bytes stay buffered.
    var answeringLocally = false
    var adminAnswerRunning = false
    var localAnswers = LocalAnswerMachine()
    /// `PGPOOL SET` values of this session.
    var pgpoolOverrides: [String: String] = [:]
    /// The session was counted as accepted or rejected.
    var counted = false
    var authTimer: Scheduled<Void>?
    var idleTimer: Scheduled<Void>?
    var lastClientActivity = NIODeadline.now()
    var remoteAddress: String?
    /// When the client connected (seconds since 1970).
    let startedAt = Date().timeIntervalSince1970
    var slotRequestedAt: NIODeadline?

    // Forwarding (see ClientSessionHandler+Routing.swift).
    /// Where client messages go; created at the end of the login.
    var dispatch: DispatchMachine?
    /// Read/write splitting as configured, when the session balances reads.
    var routingConfiguration: RoutingConfiguration?
    /// Connections to other nodes, leased when routing first sends them something.
    var standbyConnections: [Int: BackendConnection] = [:]
    /// Nodes this session could not connect to.
    var unusableNodes: Set<Int> = []
    /// Load-balance candidates derived from the cluster state, kept until it changes.
    var routingCandidates: [LoadBalanceSelector.Candidate] = []
    var routingReadable: [Int] = []
    var candidatesGeneration = -1
    var random = SplitMix64(seed: 0)
    var sessionFacts: SessionCatalogFacts?
    var factsTimer: Scheduled<Void>?
    var factsWaitID = 0
    /// Reused buffers: the client messages of one read, the machine's actions, the
    /// connections written to.
    var clientMessages: [RawMessage] = []
    var actions: [DispatchMachine.Action] = []
    var touched: [BackendConnection] = []
    /// Nodes the large message being streamed goes to; nil when none streams or its head still
    /// waits to be sent.
    var streamNodes: [Int]?
    /// Bytes of a streamed message that arrived before its head could be sent.
    var streamBacklog: ByteBuffer?
    /// Whether the client channel is read (backpressure), as last set.
    var readingClient = true
    /// An admin command is answered: the client is not read meanwhile.
    var adminPaused = false
    /// The FATAL of a session that ended while its client waited for nothing, kept until the
    /// client sends something (see ``fatal(_:waitForClient:)``).
    var lastWords: ByteBuffer?
    /// An error a backend sent while the client waited for nothing (its FATAL before it goes),
    /// by node: it reaches the client with the session's own FATAL, or before the next reply.
    var idleErrors: [Int: ByteBuffer] = [:]
    var lastWordsTimer: Scheduled<Void>?

    /// What a client may send before it is logged in (PostgreSQL caps authentication messages
    /// at 64 KiB too).
    static let maxBytesBeforeLogin = 65_536

    init(runtime: ProxyRuntime, pool: BackendPool, sessions: SessionRegistry, sessionID: UInt64) {
        self.runtime = runtime
        self.pool = pool
        self.sessions = sessions
        self.sessionID = sessionID
        self.settings = runtime.settings
        self.splitter = MessageSplitter(maxMessageLength: Self.maxBytesBeforeLogin)
        var logger = runtime.logger
        logger[metadataKey: "session"] = "\(sessionID)"
        self.logger = logger
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The context holds this handler: keeping it after the channel is gone would keep both
    /// (and everything the session held) forever.
    func handlerRemoved(context: ChannelHandlerContext) {
        end(reason: "client disconnected")
        lastWordsTimer?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        sessions.add(self)
        remoteAddress = context.channel.remoteAddress?.ipAddress.map(Self.unmappingIPv4)
        context.fireChannelActive()
        let limit = settings.numInitChildren * settings.listenBacklogMultiplier
        guard runtime.connections.admitWithoutSlot(limit: limit) else {
            if runtime.connections.shouldLogRefusal(now: Int64(NIODeadline.now().uptimeNanoseconds)) {
                logger.warning("client refused: too many connections wait for a slot",
                               metadata: ["limit": "\(limit)", "remote": "\(remoteAddress ?? "local")"])
            }
            refusedAtCap = true
            authTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [self] in
                refuseAtCap()
            }
            return
        }
        countedWithoutSlot = true
        startAuthTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        sessions.traffic.fromClients &+= bytes.readableBytes
        switch phase {
        case .forwarding where answeringLocally:
            do {
                _ = try splitter.feedRun(bytes) { _, _ in false }
            } catch {
                return protocolViolation("\(error)")
            }
            continueAdminAnswer()
            updateReading()
        case .forwarding:
            if !idleErrors.isEmpty { releaseIdleErrors() }
            forwardFromClient(bytes)
        case .awaitingStartup:
            readStartup(bytes)
        case .authenticating:
            readAuthentication(bytes)
        case .awaitingSlot, .connectingBackend, .preparingAuthentication:
            // A client may pipeline nothing before AuthenticationOk but its password messages;
            // keep what arrives for the phase that reads it.
            var held = startupBuffer ?? context.channel.allocator.buffer(capacity: bytes.readableBytes)
            guard held.readableBytes + bytes.readableBytes <= Self.maxBytesBeforeLogin else {
                return protocolViolation("too much data before authentication completed")
            }
            var bytes = bytes
            held.writeBuffer(&bytes)
            startupBuffer = held
        case .closed:
            // The client speaks again: the FATAL kept for this moment goes out now.
            if lastWords != nil { sayLastWords() }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        updateReading()
    }

    /// Backpressure: the client is read while every backend takes writes, the session holds
    /// less than ``DispatchMachine/heldBytesLimit`` of its messages and no streamed message
    /// waits for its head to go out; the backends are read while the client takes writes, the
    /// primary also only while less than the limit of its output is held.
    func updateReading() {
        guard case .forwarding = phase else { return }
        var backendsWritable = primaryConnection?.channel.isWritable ?? true
        for connection in standbyConnections.values where !connection.channel.isWritable { backendsWritable = false }
        let held = splitter.bufferedByteCount + (dispatch?.heldClientBytes ?? 0) + (streamBacklog?.readableBytes ?? 0)
        let readClient = backendsWritable && !adminPaused && !(splitter.isStreaming && streamNodes == nil)
            && held <= DispatchMachine.heldBytesLimit
        if readClient != readingClient {
            readingClient = readClient
            context.channel.setOption(ChannelOptions.autoRead, value: readClient).whenFailure { _ in }
        }
        let clientWritable = context.channel.isWritable
        if let primaryConnection {
            setReading(primaryConnection, clientWritable && (dispatch?.heldOutputBytes ?? 0) <= DispatchMachine.heldBytesLimit)
        }
        for connection in standbyConnections.values { setReading(connection, clientWritable) }
    }

    func setReading(_ connection: BackendConnection, _ reading: Bool) {
        guard connection.isReading != reading else { return }
        connection.isReading = reading
        connection.channel.setOption(ChannelOptions.autoRead, value: reading).whenFailure { _ in }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("client connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(reason: "client disconnected")
    }

    /// A dual-stack socket reports IPv4 clients as `::ffff:a.b.c.d`; pool_hba.conf and the logs
    /// want `a.b.c.d`.
    static func unmappingIPv4(_ address: String) -> String {
        let prefix = "::ffff:"
        guard address.lowercased().hasPrefix(prefix), address.contains(".") else { return address }
        return String(address.dropFirst(prefix.count))
    }

    /// Refuses a connection beyond num_init_children × listen_backlog_multiplier.
    func refuseAtCap() {
        let limit = settings.numInitChildren * settings.listenBacklogMultiplier
        fatal(ErrorFields(severity: .fatal, sqlState: "53300", message: "sorry, too many clients already",
                          hint: "\(limit) connections already wait for one of the \(settings.numInitChildren) client slots (num_init_children × listen_backlog_multiplier)."))
    }

    /// Sends a FATAL 08P01 and closes, as PostgreSQL does on a protocol violation.
    func protocolViolation(_ message: String) {
        logger.warning("protocol violation from client", metadata: ["error": "\(message)"])
        fatal(ErrorFields(severity: .fatal, sqlState: "08P01", message: "protocol violation: \(message)"))
    }

    /// The session as the admin API and metrics show it.
    var snapshot: ProxySnapshot.Session {
        let state: String
        if case .forwarding = phase {
            let connections = allConnections
            if connections.contains(where: { !$0.tracker.isQuiescent }) || !(dispatch?.isIdle ?? true) {
                state = "active"
            } else {
                switch primaryConnection?.tracker.transactionStatus ?? .idle {
                case .idle: state = "idle"
                case .inTransaction: state = "idle in transaction"
                case .failed: state = "idle in transaction (aborted)"
                }
            }
        } else if case .awaitingSlot = phase {
            state = "waiting"
        } else {
            state = "starting"
        }
        return ProxySnapshot.Session(
            id: sessionID, user: startup?.user ?? "", database: startup?.database ?? startup?.user ?? "",
            applicationName: startup?["application_name"] ?? "", clientAddress: remoteAddress ?? "local",
            state: state, since: startedAt, backendNodes: allConnections.map(\.node.id))
    }

    // MARK: Timers

    func startAuthTimer() {
        authTimer?.cancel()
        guard settings.authenticationTimeout > .zero else { return }
        authTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.authenticationTimeout) { [self] in
            logger.info("authentication timed out")
            fatal(ErrorFields(severity: .fatal, sqlState: "08006", message: "canceling authentication due to timeout"))
        }
    }

    func startIdleTimer(after delay: TimeAmount) {
        guard settings.clientIdleLimit > .zero else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            guard case .forwarding = phase else { return }
            let idle = NIODeadline.now() - lastClientActivity
            if idle >= settings.clientIdleLimit, primaryConnection?.tracker.isQuiescent ?? true {
                let seconds = settings.clientIdleLimit.nanoseconds / 1_000_000_000
                logger.info("client idle limit reached")
                fatal(ErrorFields(severity: .fatal, sqlState: "57P05",
                                  message: "terminating connection because it was idle for \(seconds) seconds (client_idle_limit)"))
            } else {
                // Busy (or not idle long enough): look again when the limit could next be reached.
                startIdleTimer(after: idle >= settings.clientIdleLimit ? settings.clientIdleLimit : settings.clientIdleLimit - idle)
            }
        }
    }

    // MARK: The end

    /// Releases everything the session holds. Safe to call more than once.
    func end(reason: String) {
        if case .closed = phase { return }
        let previous = phase
        phase = .closed
        authTimer?.cancel()
        idleTimer?.cancel()
        factsTimer?.cancel()
        sessions.remove(self)
        stopCountingWithoutSlot()
        if case .awaitingSlot(let id) = previous, runtime.admission.cancel(id) {
            // Still queued: nothing was granted.
        }
        if let clientKey {
            runtime.cancelRegistry.unregister(clientKey)
            self.clientKey = nil
        }
        // The slot stays taken until the backend connections are reset, so that num_init_children
        // also bounds the backend connections being cleaned up.
        let connections = allConnections
        primaryConnection = nil
        standbyConnections.removeAll()
        dispatch = nil
        var outstanding = connections.count
        let releaseSlot: () -> Void
        if holdsSlot {
            holdsSlot = false
            let admission = runtime.admission
            releaseSlot = {
                outstanding -= 1
                if outstanding <= 0 { admission.release() }
            }
        } else {
            releaseSlot = {}
        }
        if connections.isEmpty {
            outstanding = 1
            releaseSlot()
        }
        // A connection that got part of a streamed message cannot be reset: it is closed.
        let partial = splitter.isStreaming ? Set(streamNodes ?? []) : []
        streamNodes = nil
        streamBacklog = nil
        for connection in connections {
            if partial.contains(connection.node.id) {
                connection.owner = nil
                connection.close()
                releaseSlot()
            } else {
                release(connection, then: releaseSlot)
            }
        }
        if case .forwarding = previous, settings.logDisconnections {
            logger.info("client disconnected", metadata: ["reason": "\(reason)"])
        }
    }

    /// The connection got its slot or ended.
    func stopCountingWithoutSlot() {
        guard countedWithoutSlot else { return }
        countedWithoutSlot = false
        runtime.connections.leftWithoutSlot()
    }

    private func release(_ connection: BackendConnection, then done: @escaping () -> Void) {
        connection.owner = nil
        setReading(connection, true)
        BackendResetter(connection: connection, pool: pool, queries: settings.resetQueries, onFinish: done)
            .start(timeout: settings.resetTimeout)
    }
}
