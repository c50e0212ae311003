import Configuration
import Logging
import NIOCore
import PostgresWire
import Routing

/// Everything SwiftPool decides for one client connection, as a value: the session's phase,
/// its login, the client bytes it holds, its timers, how it forwards and how it ends. Events go
/// in (client bytes, a slot granted, a backend leased or lost, a backend's output or
/// ReadyForQuery, a timer fired, an admin answer ready); ``Action``s come out, which the channel
/// handler performs in order. Sub-machines do the detailed work: ``LoginMachine`` orders the
/// login, ``ClientAuthMachine`` checks the client's password, ``DispatchMachine`` routes client
/// messages to the nodes (a session without read/write splitting routes every decision to the
/// primary), ``LocalAnswerMachine`` answers SwiftPool's own SQL commands, which are taken out
/// in front of routing.
///
/// No I/O: the machine never touches a channel, a clock or the cluster. What it needs to know of
/// the session's connections (their state, the nodes routing may use) it asks a
/// ``SessionEnvironment`` passed with the event.
struct ClientSessionMachine {
    enum Phase {
        case awaitingStartup
        /// The startup packet arrived; a client slot (num_init_children) was asked for.
        case awaitingSlot
        /// Deriving the user's SCRAM keys off the event loop.
        case preparingAuthentication
        /// Authenticating the client with ``ClientSessionMachine/clientAuth``.
        case authenticating
        case connectingBackend
        case forwarding
        case closed
    }

    /// The session's timers; starting one replaces the running one of the same kind.
    enum Timer: CaseIterable {
        /// authentication_timeout, up to the login reply.
        case authentication
        /// A connection beyond the cap of connections without a slot is refused after this.
        case refusal
        /// client_idle_limit.
        case idle
        /// The longest a statement waits for catalog look-ups.
        case facts
        /// The FATAL of a session that ended while its client waited for nothing.
        case lastWords
    }

    /// What the channel handler must do, in order.
    enum Action {
        /// Write to the client (not flushed).
        case writeClient(ByteBuffer)
        case flushClient
        /// Close the client connection now.
        case closeClient
        /// Write the session's FATAL, close the sending side, close all after a short linger.
        case sayLastWords(ByteBuffer)
        /// Read the client again whatever backpressure said (to learn that it speaks or leaves).
        case readClient
        /// Re-evaluate which channels are read (``readingPlan(backendsWritable:)``).
        case updateReading
        case startTimer(Timer, TimeAmount)
        case cancelTimer(Timer)
        case log(Logger.Level, Logger.Message, Logger.Metadata = [:])

        // Login
        /// The startup packet named who connects.
        case identified(StartupParameters)
        /// Pass a CancelRequest on to the backend running the key's query.
        case forwardCancel(BackendKey)
        /// Ask for a client slot; report ``slotGranted(verdict:capturesClearText:who:into:)`` or
        /// ``slotRefused(into:)``.
        case requestSlot
        /// The connection no longer counts among those without a slot.
        case leftWithoutSlot
        /// Look up the user's credentials for `method` and report
        /// ``startClientAuthentication(_:into:)`` (after ``derivingClientKeys()`` when the keys
        /// must be derived first).
        case prepareClientAuthentication(AuthMethod)
        /// The client failed to authenticate with this method: log why pool_passwd could not
        /// verify it, if it could not.
        case logAuthenticationFailure(sqlState: String?, method: AuthMethod?)
        /// Lease a connection to the primary; report ``primaryLeased(askedFor:into:)`` or
        /// ``primaryLeaseFailed(_:into:)``.
        case leasePrimary(clientPassword: String?)
        /// Register the client's cancel key and start dispatching; report
        /// ``loggedIn(parameters:clientKey:status:dispatch:_:now:into:)``.
        case completeLogin
        /// A node could not be reached or went away (`shutdown`: it said it was shutting down).
        case backendLost(node: Int, shutdown: Bool)
        case connectionAccepted
        case connectionRejected(sqlState: String?)

        // Forwarding
        /// What the dispatch machine asked for.
        case dispatch(DispatchMachine.Action)
        /// Flush the node connections written since the last flush, and the client if written.
        case flushWritten
        /// Bytes of the large message being streamed, for `nodes` (written and flushed).
        case streamPiece(ByteBuffer, nodes: [Int])
        /// Report ``factsSettled(_:_:into:)`` with `id` once these look-ups are over, or after
        /// catalog_lookup_wait.
        case awaitFacts([CatalogFactsCache.Key], id: Int)
        /// Answer these admin commands; report ``adminAnswered(_:answers:status:_:into:)``.
        case answerAdmin(batch: [RawMessage], commands: [AdminCommand], loadBalanceNode: Int?, overrides: [String: String])
        /// PGPOOL SET changed the session's log level (nil: back to the configured one).
        case setLogLevel(ServerMessageLevel?)
        /// Let go of every backend connection: `terminate` (a polite Terminate) or close them.
        case dropConnections(terminate: Bool)
        /// Transaction mode: a unit of work is over; give the connections back to the pool.
        case releaseConnections

        // The end
        /// Release everything the session holds: backend connections (closing those in
        /// `closing`, which got part of a streamed message), the slot, the cancel key, a slot
        /// request still queued.
        case releaseAll(closing: [Int], holdsSlot: Bool, cancelSlotRequest: Bool)
    }

    /// What a client may send before it is logged in (PostgreSQL caps authentication messages
    /// at 64 KiB too).
    static let maxBytesBeforeLogin = 65_536
    /// How long the FATAL of a session that ended while idle waits for the client's next message.
    static let idleFatalDelay = TimeAmount.seconds(3)
    /// How long the FATAL of a session that ended during the client's COPY FROM STDIN waits for
    /// the end of the copy.
    static let copyEndDelay = TimeAmount.seconds(10)

    var phase = Phase.awaitingStartup
    /// The client's authentication while the phase is `authenticating` (kept out of the phase,
    /// which is then a plain value, tested on every read and write without copying anything).
    var clientAuth: ClientAuthMachine?
    /// The session's settings (PGPOOL SET may change client_idle_limit).
    var settings: ProxySettings
    /// client_idle_limit as configured, for PGPOOL RESET.
    let configuredIdleLimit: TimeAmount
    /// Whether SwiftPool's own SQL commands are answered here.
    let answersAdminCommands: Bool

    var login = LoginMachine()
    var startup: StartupParameters?
    /// Client bytes that arrived before the phase that reads them.
    var heldBeforeForwarding: ByteBuffer?
    var splitter = MessageSplitter(maxMessageLength: maxBytesBeforeLogin)
    var holdsSlot = false
    /// Counted among the connections without a slot.
    var countedWithoutSlot = false
    /// Beyond the cap of connections without a slot: refused once its startup packet arrives
    /// (so that the client can read the error), or after a second.
    var refusedAtCap = false
    /// The session was counted as accepted or rejected.
    var counted = false
    var lastClientActivity = NIODeadline.uptimeNanoseconds(0)

    /// Where client messages go once logged in.
    var dispatch: DispatchMachine?
    /// Read/write splitting as configured (PGPOOL RESET returns to it); nil without splitting.
    var configuredRouting: RoutingSettings?
    /// Nodes the large message being streamed goes to; nil when none streams or its head still
    /// waits to be sent.
    var streamNodes: [Int]?
    /// Bytes of a streamed message that arrived before its head could be sent.
    var streamBacklog: ByteBuffer?
    var factsWaitID = 0
    /// Scratch space: the dispatch machine's actions, the client messages of one read.
    var dispatchActions: [DispatchMachine.Action] = []
    var scratchMessages: [RawMessage] = []

    var localAnswers = LocalAnswerMachine()
    var adminAnswer = AdminAnswerState.none
    /// `PGPOOL SET` values of this session.
    var pgpoolOverrides: [String: String] = [:]

    /// The FATAL of a session that ended while its client waited for nothing, kept until the
    /// client sends something or ``idleFatalDelay`` passed.
    var lastWords: ByteBuffer?
    /// Set while ``lastWords`` wait for the end of the client's COPY FROM STDIN, with the
    /// answer its end gets.
    var copyEnd: (scanner: CopyEndScanner, answer: ByteBuffer)?
    /// The end of a cut-off copy was answered with ReadyForQuery: Syncs right after it were
    /// answered by it too.
    var copyEndAnswered = false
    /// Transaction mode: the client's server-session state when the session ended (its
    /// connections are reset accordingly).
    var pooledAtEnd: PooledSessionState?
    /// Reused by ``takeDispatchActions(_:into:)`` for the leases it puts last.
    var leaseScratch: [Int] = []
    /// An error a backend sent while the client waited for nothing (its FATAL before it goes),
    /// by node: it reaches the client with the session's own FATAL, or before the next reply.
    var idleErrors: [Int: ByteBuffer] = [:]

    init(settings: ProxySettings, answersAdminCommands: Bool) {
        self.settings = settings
        self.configuredIdleLimit = settings.clientIdleLimit
        self.answersAdminCommands = answersAdminCommands
    }

    var isForwarding: Bool { if case .forwarding = phase { true } else { false } }
    var isClosed: Bool { if case .closed = phase { true } else { false } }

    // MARK: Connection events

    /// The client connected; `admitted`: within the cap of connections without a slot.
    mutating func clientConnected(admitted: Bool, into actions: inout [Action]) {
        if admitted {
            countedWithoutSlot = true
            startAuthenticationTimer(into: &actions)
        } else {
            refusedAtCap = true
            actions.append(.startTimer(.refusal, .seconds(1)))
        }
    }

    /// Bytes from the client.
    mutating func clientBytes<E: SessionEnvironment>(
        _ bytes: ByteBuffer, _ env: inout E, now: () -> NIODeadline, into actions: inout [Action]
    ) {
        switch phase {
        case .forwarding:
            receivedWhileForwarding(bytes, &env, now: now, into: &actions)
        case .awaitingStartup:
            readStartup(bytes, into: &actions)
        case .authenticating:
            readAuthentication(bytes, into: &actions)
        case .awaitingSlot, .connectingBackend, .preparingAuthentication:
            // A client may pipeline nothing before AuthenticationOk but its password messages;
            // keep what arrives for the phase that reads it.
            var held = heldBeforeForwarding ?? ByteBuffer()
            guard held.readableBytes + bytes.readableBytes <= Self.maxBytesBeforeLogin else {
                return protocolViolation("too much data before authentication completed", into: &actions)
            }
            held.writeImmutableBuffer(bytes)
            heldBeforeForwarding = held
        case .closed:
            readAfterTheEnd(bytes, into: &actions)
        }
    }

    /// Bytes from a client whose session has ended.
    private mutating func readAfterTheEnd(_ bytes: ByteBuffer, into actions: inout [Action]) {
        var bytes = bytes
        if case (var scanner, let answer)? = copyEnd {
            // Copy data nobody reads any more: discarded until the copy ends.
            guard case .ended(let after) = scanner.scan(bytes) else { return copyEnd = (scanner, answer) }
            copyEnd = nil
            copyEndAnswered = true
            actions.append(.writeClient(answer))
            actions.append(.flushClient)
            actions.append(.startTimer(.lastWords, Self.idleFatalDelay))
            bytes = after
        }
        if copyEndAnswered { bytes = CopyEndScanner.droppingSyncs(bytes) }
        guard bytes.readableBytes > 0 else { return }
        // The client speaks again: the FATAL kept for this moment goes out now.
        sayLastWords(into: &actions)
    }

    /// The client connection closed.
    mutating func clientLeft(into actions: inout [Action]) {
        end(reason: "client disconnected", into: &actions)
    }

    mutating func timerFired<E: SessionEnvironment>(_ timer: Timer, _ env: inout E, now: NIODeadline, into actions: inout [Action]) {
        switch timer {
        case .authentication:
            actions.append(.log(.info, "authentication timed out"))
            fatal(ErrorFields(severity: .fatal, sqlState: "08006", message: "canceling authentication due to timeout"), into: &actions)
        case .refusal:
            refuseAtCap(into: &actions)
        case .idle:
            idleTimerFired(&env, now: now, into: &actions)
        case .facts:
            factsSettled(factsWaitID, &env, into: &actions)
        case .lastWords:
            sayLastWords(into: &actions)
        }
    }

    // MARK: Errors and the end

    /// Refuses a connection beyond num_init_children × listen_backlog_multiplier.
    mutating func refuseAtCap(into actions: inout [Action]) {
        let limit = settings.numInitChildren * settings.listenBacklogMultiplier
        fatal(ErrorFields(severity: .fatal, sqlState: "53300", message: "sorry, too many clients already",
                          hint: "\(limit) connections already wait for one of the \(settings.numInitChildren) client slots (num_init_children × listen_backlog_multiplier)."),
              into: &actions)
    }

    /// Sends a FATAL 08P01 and closes, as PostgreSQL does on a protocol violation.
    mutating func protocolViolation(_ message: String, into actions: inout [Action]) {
        actions.append(.log(.warning, "protocol violation from client", ["error": "\(message)"]))
        fatal(ErrorFields(severity: .fatal, sqlState: "08P01", message: "protocol violation: \(message)"), into: &actions)
    }

    /// Sends a FATAL error (after the errors backends sent while the client waited for nothing)
    /// and ends the session.
    ///
    /// With `waitForClient` (the session ended while its client waited for nothing) the error
    /// is kept until the client's next message, or ``idleFatalDelay``. Sent at once, it would
    /// often arrive right behind the previous reply: libpq then reads it while idle and hands it
    /// to the notice receiver, asyncpg and node-postgres keep it aside, and the client's next
    /// query fails with "server closed the connection" and no SQLSTATE.
    ///
    /// With `copyingIn` (the client is sending COPY data; the status of its transaction) the
    /// rest of the copy is read and discarded for up to ``copyEndDelay``, and its end gets what
    /// PostgreSQL answers a failed copy: the error (as an ERROR) and ReadyForQuery. The FATAL
    /// then waits for the client's next message as above. A client cut off while it writes
    /// would see a reset instead, and libpq reads a FATAL followed by end-of-file at the end of
    /// a copy as two results (psycopg fails on that).
    mutating func fatal(_ error: ErrorFields, waitForClient: Bool = false, copyingIn: TransactionStatus? = nil,
                        into actions: inout [Action]) {
        if !counted {
            counted = true
            actions.append(.connectionRejected(sqlState: error.sqlState))
        }
        let kept = idleErrors.keys.sorted().map { idleErrors[$0]! }
        idleErrors.removeAll()
        var words = ByteBuffer()
        if copyingIn == nil { for bytes in kept { words.writeImmutableBuffer(bytes) } }
        BackendMessageEncoder.errorResponse(error, into: &words)
        end(reason: error.message ?? "error", into: &actions)
        lastWords = words
        if let copyingIn {
            // One error answers the copy's end (libpq takes each as a result): the backend's own
            // FATAL when it sent one, which says why.
            var failure = kept.first.flatMap { ErrorFields.decode(messageAtFrontOf: $0) } ?? error
            failure.fields[UInt8(ascii: "S")] = ErrorFields.Severity.error.rawValue
            failure.fields[UInt8(ascii: "V")] = ErrorFields.Severity.error.rawValue
            var answer = ByteBuffer()
            BackendMessageEncoder.errorResponse(failure, into: &answer)
            BackendMessageEncoder.readyForQuery(copyingIn == .idle ? .idle : .failed, into: &answer)
            copyEnd = (CopyEndScanner(skipping: splitter.streamRemaining), answer)
            actions.append(.readClient)
            actions.append(.startTimer(.lastWords, Self.copyEndDelay))
            if let held = splitter.takeBuffered() { readAfterTheEnd(held, into: &actions) }
        } else if waitForClient {
            actions.append(.readClient)
            actions.append(.startTimer(.lastWords, Self.idleFatalDelay))
        } else {
            sayLastWords(into: &actions)
        }
    }

    private mutating func sayLastWords(into actions: inout [Action]) {
        guard let words = lastWords else { return }
        lastWords = nil
        copyEnd = nil
        copyEndAnswered = false
        actions.append(.cancelTimer(.lastWords))
        actions.append(.sayLastWords(words))
    }

    /// Releases everything the session holds. Safe to call more than once.
    mutating func end(reason: String, into actions: inout [Action]) {
        if case .closed = phase { return }
        let previous = phase
        phase = .closed
        clientAuth = nil
        for timer in Timer.allCases where timer != .lastWords { actions.append(.cancelTimer(timer)) }
        if countedWithoutSlot {
            countedWithoutSlot = false
            actions.append(.leftWithoutSlot)
        }
        var awaitingSlot = false
        if case .awaitingSlot = previous { awaitingSlot = true }
        // A connection that got part of a streamed message cannot be reset: it is closed.
        let partial = splitter.isStreaming ? (streamNodes ?? []) : []
        streamNodes = nil
        streamBacklog = nil
        pooledAtEnd = dispatch?.pooled
        dispatch = nil
        adminAnswer = .none
        actions.append(.releaseAll(closing: partial, holdsSlot: holdsSlot, cancelSlotRequest: awaitingSlot))
        holdsSlot = false
        if case .forwarding = previous, settings.logDisconnections {
            actions.append(.log(.info, "client disconnected", ["reason": "\(reason)"]))
        }
    }

    // MARK: Timers

    mutating func startAuthenticationTimer(into actions: inout [Action]) {
        guard settings.authenticationTimeout > .zero else { return actions.append(.cancelTimer(.authentication)) }
        actions.append(.startTimer(.authentication, settings.authenticationTimeout))
    }

    mutating func startIdleTimer(after delay: TimeAmount, into actions: inout [Action]) {
        guard settings.clientIdleLimit > .zero else { return }
        actions.append(.startTimer(.idle, delay))
    }

    private mutating func idleTimerFired<E: SessionEnvironment>(_ env: inout E, now: NIODeadline, into actions: inout [Action]) {
        guard case .forwarding = phase, settings.clientIdleLimit > .zero else { return }
        let limit = settings.clientIdleLimit
        let idle = now - lastClientActivity
        if idle >= limit, env.isQuiescent(dispatch?.primary ?? -1) {
            actions.append(.log(.info, "client idle limit reached"))
            fatal(ErrorFields(severity: .fatal, sqlState: "57P05",
                              message: "terminating connection because it was idle for \(limit.nanoseconds / 1_000_000_000) seconds (client_idle_limit)"),
                  into: &actions)
        } else {
            // Busy (or not idle long enough): look again when the limit could next be reached.
            startIdleTimer(after: idle >= limit ? limit : limit - idle, into: &actions)
        }
    }
}

/// What the session machine asks about its connections while it decides (beyond what the
/// dispatch machine asks).
protocol SessionEnvironment: DispatchEnvironment {
    associatedtype Facts: SessionFacts
    /// The catalog facts of the session's database.
    var facts: Facts { get }
    /// Whether every connection of the session has answered everything it was sent.
    var allQuiescent: Bool { get }
    /// Whether the session holds any backend connection.
    var holdsConnections: Bool { get }
    /// Whether every connection of the session is outside a transaction, on a message boundary.
    var allOutsideTransaction: Bool { get }
    /// The transaction status of a connection of the session that waits for the client's COPY
    /// data; nil when none does.
    var copyingIn: TransactionStatus? { get }
}
