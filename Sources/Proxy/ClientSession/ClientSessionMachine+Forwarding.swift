import NIOCore
import PostgresWire

/// The forwarding phase: client messages go through the admin filter into the
/// ``DispatchMachine``; large messages stream through; backends' output goes to the client.
extension ClientSessionMachine {
    /// What to do with a piece of a backend's output.
    enum OutputStep: Equatable {
        /// Write it to the client.
        case forward
        /// Nothing now (kept, dropped or not forwarding).
        case none
        /// Kept, and the held output crossed its bound: re-evaluate reading.
        case updateReading
    }

    mutating func receivedWhileForwarding<E: SessionEnvironment>(
        _ bytes: ByteBuffer, _ env: inout E, now: () -> NIODeadline, into actions: inout [Action]
    ) {
        if adminAnswer != .none {
            do {
                _ = try splitter.feedRun(bytes) { _, _ in false }
            } catch {
                return protocolViolation("\(error)", into: &actions)
            }
            continueAdminAnswer(&env, into: &actions)
            actions.append(.updateReading)
            return
        }
        // A FATAL kept during the client's copy waits for its connection to close.
        if !idleErrors.isEmpty, env.copyingIn == nil { releaseIdleErrors(&env, into: &actions) }
        forward(bytes, &env, now: now, into: &actions)
    }

    /// Client bytes in the forwarding phase.
    mutating func forward<E: SessionEnvironment>(
        _ bytes: ByteBuffer, _ env: inout E, now: () -> NIODeadline, into actions: inout [Action]
    ) {
        guard dispatch != nil else { return }
        if settings.clientIdleLimit > .zero { lastClientActivity = now() }
        var bytes = bytes
        if splitter.isStreaming {
            if let piece = splitter.takeStreamed(from: &bytes) { passStreamed(piece, &env, into: &actions) }
            guard bytes.readableBytes > 0, dispatch != nil else { return actions.append(.updateReading) }
        }
        var admin = false
        // Taken out of self for the closure, and put back: the buffers stay uniquely owned.
        var messages = scratchMessages
        scratchMessages = []
        var answers = localAnswers
        localAnswers = LocalAnswerMachine()
        let intercepting = answersAdminCommands
        let run: ByteBuffer?
        do {
            run = try splitter.feedRun(bytes) { type, message in
                if intercepting, answers.intercepts(type, message) {
                    admin = true
                    return false
                }
                messages.append(message())
                return true
            }
        } catch {
            localAnswers = answers
            return protocolViolation("\(error)", into: &actions)
        }
        localAnswers = answers
        let facts = env.facts
        dispatch!.clientMessages(messages, run: run, &env, facts: facts, into: &dispatchActions)
        messages.removeAllKeepingCapacity()
        scratchMessages = messages
        takeDispatchActions(&env, into: &actions)
        if admin, dispatch != nil {
            dispatch!.flushBeforeLocalAnswer(&env, facts: facts, into: &dispatchActions)
            takeDispatchActions(&env, into: &actions)
            beginAdminAnswer(&env, into: &actions)
        } else if dispatch != nil {
            startLargeMessage(&env, into: &actions)
        }
        actions.append(.updateReading)
    }

    /// Starts streaming the large message at the front of the buffered bytes, once enough of
    /// it is there to see the names a Bind carries.
    private mutating func startLargeMessage<E: SessionEnvironment>(_ env: inout E, into actions: inout [Action]) {
        do {
            guard streamNodes == nil, let ahead = try splitter.largeMessageAhead(), ahead.buffered >= 1024,
                  let head = try splitter.beginStreaming() else { return }
            let facts = env.facts
            dispatch!.largeMessage(RawMessage(type: ahead.type, bytes: head), &env, facts: facts, into: &dispatchActions)
            takeDispatchActions(&env, into: &actions)
        } catch {
            protocolViolation("\(error)", into: &actions)
        }
    }

    /// Bytes of the message being streamed: to its nodes, or kept until its head is sent.
    private mutating func passStreamed<E: SessionEnvironment>(_ piece: ByteBuffer, _ env: inout E, into actions: inout [Action]) {
        guard let nodes = streamNodes else {
            if streamBacklog == nil {
                streamBacklog = piece
            } else {
                streamBacklog!.writeImmutableBuffer(piece)
            }
            return
        }
        actions.append(.streamPiece(piece, nodes: nodes))
        if !splitter.isStreaming {
            streamNodes = nil
            dispatch?.streamEnded(&env, into: &dispatchActions)
            takeDispatchActions(&env, into: &actions)
        }
    }

    /// Moves the dispatch machine's actions into `actions`: its writes, then one flush, then
    /// what must follow the writes (the end after a Terminate, catalog waits, leases, the rest
    /// of a streamed message).
    mutating func takeDispatchActions<E: SessionEnvironment>(_ env: inout E, into actions: inout [Action]) {
        guard !dispatchActions.isEmpty else { return }
        var terminate = false
        var factsToAwait: [CatalogFactsCache.Key]?
        // A buffer kept between calls: a unit of work in transaction mode leases at every turn.
        var leases = leaseScratch
        leaseScratch = []
        defer {
            leases.removeAllKeepingCapacity()
            leaseScratch = leases
        }
        var streamTo: [Int]?
        var standbyWait: Int?
        for action in dispatchActions {
            switch action {
            case .terminate: terminate = true
            case .waitForFacts(let keys): factsToAwait = keys
            case .lease(let node): leases.append(node)
            case .streamTo(let nodes): streamTo = nodes
            case .waitForStandbys(let milliseconds): standbyWait = milliseconds
            default: actions.append(.dispatch(action))
            }
        }
        dispatchActions.removeAllKeepingCapacity()
        actions.append(.flushWritten)
        if terminate {
            end(reason: "client terminated", into: &actions)
            actions.append(.closeClient)
            return
        }
        if let keys = factsToAwait {
            factsWaitID &+= 1
            actions.append(.startTimer(.facts, settings.catalogLookupWait))
            actions.append(.awaitFacts(keys, id: factsWaitID))
        }
        if let milliseconds = standbyWait {
            factsWaitID &+= 1
            actions.append(.startTimer(.facts, .milliseconds(Int64(milliseconds))))
        }
        for node in leases { actions.append(.dispatch(.lease(node: node))) }
        if let nodes = streamTo {
            streamNodes = nodes
            if let backlog = streamBacklog {
                streamBacklog = nil
                passStreamed(backlog, &env, into: &actions)
            }
            actions.append(.updateReading)
        }
    }

    /// The catalog look-ups that wait `id` is for are over (or took too long).
    mutating func factsSettled<E: SessionEnvironment>(_ id: Int, _ env: inout E, into actions: inout [Action]) {
        guard id == factsWaitID, case .forwarding = phase, dispatch != nil else { return }
        actions.append(.cancelTimer(.facts))
        let facts = env.facts
        dispatch!.factsSettled(&env, facts: facts, into: &dispatchActions)
        takeDispatchActions(&env, into: &actions)
        if adminAnswer != .none { continueAdminAnswer(&env, into: &actions) }
    }

    // MARK: Backend events

    /// Output of `node`'s connection (already seen by its tracker).
    mutating func backendOutput<E: SessionEnvironment>(_ node: Int, _ bytes: ByteBuffer, _ env: inout E) -> OutputStep {
        guard case .forwarding = phase, dispatch != nil else { return .none }
        if holdIdleError(node, bytes, &env) { return .none }
        switch dispatch!.backendOutput(node, bytes) {
        case .forward:
            return .forward
        case .held:
            return dispatch!.heldOutputBytes > DispatchMachine.heldBytesLimit ? .updateReading : .none
        case .dropped:
            return .none
        }
    }

    /// `node` sent ReadyForQuery.
    mutating func backendReady<E: SessionEnvironment>(
        _ node: Int, status: TransactionStatus, failed: Bool, _ env: inout E, into actions: inout [Action]
    ) {
        guard case .forwarding = phase, dispatch != nil else { return }
        let facts = env.facts
        dispatch!.backendReady(node, status: status, failed: failed, &env, facts: facts, into: &dispatchActions)
        takeDispatchActions(&env, into: &actions)
        if adminAnswer != .none { continueAdminAnswer(&env, into: &actions) }
        if dispatch?.isPooled == true { releaseIfBetweenUnits(&env, into: &actions) }
    }

    /// A connection to `node` was leased for routing.
    mutating func leased<E: SessionEnvironment>(_ node: Int, _ env: inout E, into actions: inout [Action]) {
        guard case .forwarding = phase, dispatch != nil else { return }
        actions.append(.updateReading)
        dispatch!.leased(node, &env, into: &dispatchActions)
        takeDispatchActions(&env, into: &actions)
    }

    /// No connection to `node` could be leased: what waited for it goes elsewhere.
    mutating func nodeUnavailable<E: SessionEnvironment>(_ node: Int, _ env: inout E, into actions: inout [Action]) {
        guard case .forwarding = phase, dispatch != nil else { return }
        dispatch!.nodeUnavailable(node, &env, into: &dispatchActions)
        takeDispatchActions(&env, into: &actions)
    }

    // MARK: Backpressure

    /// Which channels to read: the client while every backend takes writes, the session holds
    /// less than ``DispatchMachine/heldBytesLimit`` of its messages, no admin answer runs and no
    /// streamed message waits for its head to go out; the primary while less than the limit of
    /// its output is held (the backends are read only while the client takes writes, too).
    ///
    /// `mutating` though it changes nothing: the handler asks on every read, and a non-mutating
    /// call on its stored machine copies the whole machine first.
    mutating func readingPlan(backendsWritable: Bool) -> (client: Bool, primary: Bool) {
        guard case .forwarding = phase else { return (true, true) }
        let (heldClient, heldOutput) = dispatch?.heldBytes() ?? (0, 0)
        let held = splitter.bufferedByteCount + heldClient + (streamBacklog?.readableBytes ?? 0)
        let client = backendsWritable && !adminAnswer.pausesClient && !(splitter.isStreaming && streamNodes == nil)
            && held <= DispatchMachine.heldBytesLimit
        return (client, heldOutput <= DispatchMachine.heldBytesLimit)
    }

    /// True when the client waits for no reply: nothing in flight on any backend connection,
    /// nothing of its held or half-read.
    func clientWaitsForNothing<E: SessionEnvironment>(_ env: E) -> Bool {
        env.allQuiescent && splitter.bufferedByteCount == 0 && !splitter.isStreaming
            && (dispatch?.heldClientBytes ?? 0) == 0 && adminAnswer == .none
    }

    /// True when a FATAL now would land behind replies the client already has whole: it waits
    /// for nothing (above), or routing says every reply it asked for went out and only answers it
    /// never sees are still owed (a Parse or Close SwiftPool copied to another node). Then the
    /// FATAL waits for the client, as for an idle one.
    func clientExpectsNoReply<E: SessionEnvironment>(_ env: E) -> Bool {
        clientWaitsForNothing(env) || clientHasEveryReply
    }

    /// Routing says every reply the client asked for went out, and nothing of its is held or
    /// half-read (see ``DispatchMachine/clientHasEveryReply``).
    var clientHasEveryReply: Bool {
        splitter.bufferedByteCount == 0 && !splitter.isStreaming && adminAnswer == .none
            && dispatch?.clientHasEveryReply == true
    }

    // MARK: Errors a backend sends on its own

    /// Keeps `bytes` from `node` when they are an error the backend sent on its own while the
    /// client waited for nothing, or a FATAL sent during the client's copy (or follow one already
    /// kept). Returns whether it kept them.
    ///
    /// Only a read that is exactly one whole ErrorResponse counts: the trackers have already seen
    /// the bytes, so the reply to a query (an ErrorResponse with its ReadyForQuery in the same
    /// read) also leaves every connection quiescent, and must go to the client at once.
    private mutating func holdIdleError<E: SessionEnvironment>(_ node: Int, _ bytes: ByteBuffer, _ env: inout E) -> Bool {
        if idleErrors[node] != nil {
            idleErrors[node]!.writeImmutableBuffer(bytes)
            return true
        }
        guard bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) == UInt8(ascii: "E"),
              let length = bytes.getInteger(at: bytes.readerIndex + 1, as: Int32.self),
              Int(length) + 1 == bytes.readableBytes,
              // An answer whose ReadyForQuery SwiftPool hid is not idle: it goes to the client.
              dispatch?.routedQueries.isEmpty ?? true,
              clientWaitsForNothing(env) || (env.copyingIn != nil && ["FATAL", "PANIC"].contains(ErrorFields.decode(messageAtFrontOf: bytes)?.severity)) else { return false }
        idleErrors[node] = bytes
        return true
    }

    /// The client speaks while backends' idle errors are kept (their connections did not close):
    /// they go the usual way first.
    private mutating func releaseIdleErrors<E: SessionEnvironment>(_ env: inout E, into actions: inout [Action]) {
        let kept = idleErrors
        idleErrors.removeAll()
        for (node, bytes) in kept.sorted(by: { $0.key < $1.key }) where env.isConnected(node) {
            if dispatch?.backendOutput(node, bytes) == .forward { actions.append(.writeClient(bytes)) }
        }
        actions.append(.flushClient)
    }
}
