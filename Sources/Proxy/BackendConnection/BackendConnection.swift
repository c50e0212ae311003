import Cluster
import NIOCore
import PostgresWire

/// What a leased backend connection reports to the session that holds it.
protocol BackendConnectionOwner: AnyObject {
    /// Raw backend bytes, already observed by the connection's tracker; forward them.
    func backend(_ connection: BackendConnection, didRead bytes: ByteBuffer)
    /// A ReadyForQuery arrived (reported after the bytes that carried it); `failed` when an
    /// ErrorResponse came since the previous one.
    func backend(_ connection: BackendConnection, didBecomeReady status: TransactionStatus, failed: Bool)
    func backendDidFinishReading(_ connection: BackendConnection)
    func backend(_ connection: BackendConnection, didClose error: Error?)
    func backendWritabilityChanged(_ connection: BackendConnection, isWritable: Bool)
}

/// A logged-in connection to one backend node. It lives on one event loop and is used only
/// from there.
final class BackendConnection {
    let channel: Channel
    let node: BackendNode
    let key: PoolKey
    /// How the backend asked SwiftPool to log in.
    let authMethod: AuthMethod
    let backendKey: BackendKey
    let createdAt: NIODeadline
    var lastReleasedAt: NIODeadline
    private(set) var parameters: ParameterStatusSet
    var tracker = BackendProtocolTracker()
    /// The last ErrorResponse seen (used while resetting the connection).
    private(set) var lastError: ErrorFields?
    private(set) var isClosed = false
    /// The clear-text password a client supplied for this login (allow_clear_text_frontend_auth).
    var clientPassword: String?
    /// This node's statement and error counters (set when a session leases the connection).
    var counters: NodeQueryCounters?
    /// Whether the channel is read (autoRead), as the owning session last set it.
    var isReading = true
    /// Whether the channel takes writes, as its last writability change said (kept here: asking
    /// the channel at every read costs more than the events).
    var isWritable = true
    /// Transaction mode: the statements, replies and settings that outlive one client; set by
    /// ``joinTransactionPool(statementCapacity:)``. (No observer: one would copy the whole value,
    /// arrays and all, at every change made through it, on every read.)
    var pooled: PooledConnection?
    /// Whether ``pooled`` is set: asked at every read and write, where `pooled != nil` would
    /// copy the connection's statements and filters out first.
    private(set) var isPooled = false
    /// ReadyForQuery messages received since login.
    private var readyTotal = 0
    /// Cancel requests sent for this backend and not yet done (see ``sendCancel()``).
    private(set) var cancelsInFlight = 0
    private var afterCancels: [() -> Void] = []

    /// A cancel request for this backend is on its way.
    func cancelSent() {
        cancelsInFlight += 1
    }

    /// A cancel request for this backend is done (the server closed its socket, or it could not
    /// be sent): what waited for the last one runs.
    func cancelDone() {
        cancelsInFlight -= 1
        guard cancelsInFlight == 0, !afterCancels.isEmpty else { return }
        let waiting = afterCancels
        afterCancels = []
        waiting.forEach { $0() }
    }

    /// Runs `body` now, or once no cancel request for this backend is in flight: a pool gives a
    /// connection back through it, so that a late cancel cannot end the next client's query.
    func whenNoCancelInFlight(_ body: @escaping () -> Void) {
        if cancelsInFlight == 0 { body() } else { afterCancels.append(body) }
    }

    /// The connection serves transaction-mode sessions from now on (no-op when it already does).
    func joinTransactionPool(statementCapacity: Int) {
        guard !isPooled else { return }
        pooled = PooledConnection(statementCapacity: statementCapacity)
        isPooled = true
        pooled!.replies.startCounting(at: readyTotal)
    }

    /// The session that leased the connection (or the resetter or replay working on it); nil
    /// while it sits in the pool. Strong, not weak: a weak reference would give every session a
    /// side table, and every retain of a session would take the runtime's slow path. Every end
    /// of a lease sets it back to nil or to the next owner, and closing the connection clears it.
    var owner: BackendConnectionOwner?
    /// Called once when the channel closes (the pool uses it to drop idle connections).
    var onClose: (() -> Void)?
    /// The connection's channel handler context, set once logged in: a flush hands the gathered
    /// bytes to NIO there, not at the pipeline's tail (fewer steps and checks per write; TLS sits
    /// between it and the socket as well). Nil for a channel without that handler (tests).
    var context: ChannelHandlerContext?

    /// When the backend last went from idle to busy (for the query duration histogram).
    private var busySince: NIODeadline?
    private var observer: BackendStreamObserver
    private var errorSinceReady = false
    private var readyEvents: [(TransactionStatus, Bool)] = []

    init(channel: Channel, node: BackendNode, key: PoolKey, authMethod: AuthMethod, backendKey: BackendKey,
         parameters: ParameterStatusSet, maxMessageLength: Int, now: NIODeadline) {
        self.channel = channel
        self.node = node
        self.key = key
        self.authMethod = authMethod
        self.backendKey = backendKey
        self.parameters = parameters
        self.createdAt = now
        self.lastReleasedAt = now
        self.observer = BackendStreamObserver(
            watching: [BackendMessageType.readyForQuery, BackendMessageType.parameterStatus,
                       BackendMessageType.copyInResponse, BackendMessageType.copyBothResponse,
                       BackendMessageType.errorResponse],
            maxMessageLength: maxMessageLength)
    }

    /// Called by the channel handler for every read after login.
    func received(_ bytes: ByteBuffer) {
        let streamPosition = isPooled ? observer.position : ([], 0, 0)
        do {
            try observer.scan(bytes) { event in
                switch event.type {
                case BackendMessageType.readyForQuery:
                    let status = try BackendMessageDecoder.readyForQuery(body: event.body)
                    tracker.backendSentReadyForQuery(status)
                    if tracker.pendingReadyForQuery == 0, let since = busySince {
                        busySince = nil
                        counters?.queryDuration.record(microseconds: Int((NIODeadline.now() - since).nanoseconds / 1000))
                    }
                    readyEvents.append((status, errorSinceReady))
                    readyTotal += 1
                    errorSinceReady = false
                case BackendMessageType.parameterStatus:
                    let (name, value) = try BackendMessageDecoder.parameterStatus(body: event.body)
                    parameters.set(name, value)
                case BackendMessageType.copyInResponse, BackendMessageType.copyBothResponse:
                    tracker.backendStartedCopyIn()
                case BackendMessageType.errorResponse:
                    let error = ErrorFields.decode(body: event.body)
                    lastError = error
                    errorSinceReady = true
                    if isPooled, error.sqlState == "0A000", error.message?.contains("cached plan must not change result type") == true {
                        // Statements shared on this connection are stale: each is closed and
                        // prepared again when next used.
                        pooled!.statements.removeAll()
                    }
                    switch error.severity {
                    case "FATAL": counters?.count(ErrorSeverity.fatal)
                    case "PANIC": counters?.count(ErrorSeverity.panic)
                    default: counters?.count(ErrorSeverity.error)
                    }
                default:
                    break
                }
            }
        } catch {
            close()
            return
        }
        var bytes = bytes
        if isPooled {
            let (output, skipped) = pooled!.replies.process(bytes, streamPosition: streamPosition)
            if let output {
                bytes = output
                if !skipped.isEmpty { pooled!.skipped(skipped) }
            }
            // ReadyForQuery messages the filter did not scan retire their Sync or Query now.
            let unaccounted = readyTotal - pooled!.replies.readyCount
            if unaccounted > 0 { pooled!.replies.readyForQuery(count: unaccounted) }
        }
        if let owner {
            if bytes.readableBytes > 0 { owner.backend(self, didRead: bytes) }
            if !readyEvents.isEmpty {
                var index = 0
                while index < readyEvents.count {
                    owner.backend(self, didBecomeReady: readyEvents[index].0, failed: readyEvents[index].1)
                    index += 1
                }
                readyEvents.removeAllKeepingCapacity()
            }
        } else {
            // An idle pooled connection has nothing to say; whatever it says (usually a FATAL
            // before the backend goes away) means it cannot be trusted any more.
            close()
        }
    }

    func clearLastError() { lastError = nil }

    /// True when the bytes forwarded so far end on a message boundary.
    var isAtMessageBoundary: Bool { observer.isAtMessageBoundary }

    /// What is still to come of the message the bytes forwarded so far end inside.
    var unfinishedMessage: MessageRemainder {
        let position = observer.position
        return MessageRemainder(header: position.header, remaining: position.remaining)
    }

    /// Tracks a message on its way to the backend; a busy period starts with the first message
    /// that expects a ReadyForQuery.
    /// `disposition` and `name`: what becomes of the reply to a Parse or Close in transaction mode.
    func noteSent(_ type: UInt8, _ disposition: ReplyFilter.Disposition = .pass, name: String = "") {
        let wasIdle = tracker.pendingReadyForQuery == 0
        let ignored = Self.isIgnored(type, by: tracker)
        tracker.frontendSent(type)
        if !ignored { pooled?.replies.sent(type, disposition, name: name) }
        if wasIdle, tracker.pendingReadyForQuery > 0 { busySince = .now() }
    }

    /// PostgreSQL ignores a Sync sent during COPY IN: no ReadyForQuery answers it.
    private static func isIgnored(_ type: UInt8, by tracker: BackendProtocolTracker) -> Bool {
        type == FrontendMessageType.sync && tracker.copyInProgress
    }

    /// Bytes written since the last flush, gathered into one buffer: an extended batch (Bind,
    /// Execute, Sync) goes to NIO as one write, not one per message.
    private var unflushed: ByteBuffer?

    /// Queues bytes for the backend (not flushed).
    func write(_ bytes: ByteBuffer) {
        guard var gathered = unflushed.take() else {
            unflushed = bytes
            return
        }
        var bytes = bytes
        gathered.writeBuffer(&bytes)
        unflushed = gathered
    }

    /// Sends what was queued.
    func flush() {
        guard let bytes = unflushed.take() else { return }
        if let context {
            context.write(NIOAny(bytes), promise: nil)
            context.flush()
        } else {
            channel.writeAndFlush(bytes, promise: nil)
        }
    }

    /// Writes a message the proxy built itself, tracking it like client traffic.
    /// `count`: how many messages of that type `bytes` holds.
    func send(_ bytes: ByteBuffer, type: UInt8, count: Int = 1, flush: Bool = true) {
        for _ in 0..<count {
            let ignored = Self.isIgnored(type, by: tracker)
            tracker.frontendSent(type)
            if !ignored { pooled?.replies.sent(type) }
        }
        write(bytes)
        if flush { self.flush() }
    }

    /// Closes the connection politely (Terminate, then close).
    func terminate() {
        guard !isClosed else { return }
        var buffer = channel.allocator.buffer(capacity: 5)
        FrontendMessageEncoder.terminate(into: &buffer)
        if let pending = unflushed.take() { channel.write(pending, promise: nil) }
        channel.writeAndFlush(buffer, promise: nil)
        close()
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        channel.close(promise: nil)
    }

    func channelClosed(error: Error?) {
        isClosed = true
        let owner = self.owner
        self.owner = nil
        onClose?()
        onClose = nil
        owner?.backend(self, didClose: error)
    }
}
