import Logging
import NIOCore
import NIOPosix
import PostgresWire

/// Startup and authentication of a client session.
extension ClientSessionHandler {
    // MARK: Startup packet

    func readStartup(_ bytes: ByteBuffer) {
        var buffer = startupBuffer ?? context.channel.allocator.buffer(capacity: bytes.readableBytes)
        var bytes = bytes
        buffer.writeBuffer(&bytes)
        startupBuffer = nil
        while case .awaitingStartup = phase {
            let packet: StartupPacket?
            do {
                packet = try StartupPacket.decode(from: &buffer)
            } catch .unsupportedProtocol(let major, let minor) {
                return fatal(ErrorFields(severity: .fatal, sqlState: "0A000",
                                         message: "unsupported frontend protocol \(major).\(minor): server supports 3.0 to 3.0"))
            } catch {
                return protocolViolation("invalid startup packet: \(error)")
            }
            guard let packet else {
                if buffer.readableBytes > 0 { startupBuffer = buffer }
                return
            }
            switch packet {
            case .sslRequest, .gssEncRequest:
                // No TLS or GSS encryption: the client goes on in plain text.
                var reply = context.channel.allocator.buffer(capacity: 1)
                reply.writeInteger(UInt8(ascii: "N"))
                context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
            case .cancel(let key):
                runtime.cancelRegistry.cancel(key, on: context.eventLoop)
                end(reason: "cancel request")
                context.close(promise: nil)
                return
            case .startup(let parameters):
                if buffer.readableBytes > 0 { startupBuffer = buffer }
                return received(startup: parameters)
            }
        }
    }

    private func received(startup requested: StartupParameters) {
        if refusedAtCap { return refuseAtCap() }
        var parameters = requested
        let options = parameters.pairs.map(\.0).filter { $0.hasPrefix("_pq_.") }
        if parameters.protocolVersion != ProtocolCode.protocolVersion3 || !options.isEmpty {
            // SwiftPool speaks 3.0 on both sides; a newer client is told so and goes on with 3.0.
            parameters.protocolVersion = ProtocolCode.protocolVersion3
            parameters.pairs.removeAll { $0.0.hasPrefix("_pq_.") }
            var reply = context.channel.allocator.buffer(capacity: 64)
            BackendMessageEncoder.negotiateProtocolVersion(newestMinor: 0, unrecognizedOptions: options, into: &reply)
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        }
        guard let user = parameters.user, !user.isEmpty else {
            return fatal(ErrorFields(severity: .fatal, sqlState: "28000", message: "no PostgreSQL user name specified in startup packet"))
        }
        if parameters["replication"].map({ $0 != "false" && $0 != "off" && $0 != "0" }) ?? false {
            return fatal(ErrorFields(severity: .fatal, sqlState: "0A000", message: "replication connections are not supported by SwiftPool"))
        }
        startup = parameters
        logger[metadataKey: "user"] = "\(user)"
        logger[metadataKey: "database"] = "\(parameters.database ?? user)"
        authTimer?.cancel()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        slotRequestedAt = .now()
        let id = runtime.admission.acquire(on: context.eventLoop, waitAtMost: settings.clientWaitTimeout) { outcome in
            loopBound.value.admission(outcome)
        }
        if case .awaitingStartup = phase { phase = .awaitingSlot(id) }
    }

    private func admission(_ outcome: ClientAdmission.Outcome) {
        guard case .awaitingSlot = phase else {
            // The client left while waiting; a slot that still arrived goes straight back.
            if case .granted = outcome { runtime.admission.release() }
            return
        }
        if let requested = slotRequestedAt {
            runtime.connections.slotWait.record(microseconds: Int((NIODeadline.now() - requested).nanoseconds / 1000))
        }
        switch outcome {
        case .granted:
            holdsSlot = true
            stopCountingWithoutSlot()
            startAuthTimer()
            beginAuthentication()
        case .refused, .timedOut:
            logger.warning("client refused: all num_init_children slots are busy")
            fatal(ErrorFields(severity: .fatal, sqlState: "53300", message: "sorry, too many clients already",
                              hint: "All \(settings.numInitChildren) client slots (num_init_children) are in use; retry later."))
        }
    }

    // MARK: Authentication

    private func beginAuthentication() {
        guard let startup, let user = startup.user else { return }
        let database = startup.database ?? user
        let verdict = runtime.authPolicy.map { $0(ClientConnectionInfo(remoteAddress: remoteAddress, user: user, database: database)) }
        let host = remoteAddress.map { "host \"\($0)\"" } ?? "local connection"
        performLogin(login.slotGranted(
            verdict: verdict,
            capturesClearText: settings.allowClearTextFrontendAuth && runtime.credentials.password(for: user) == nil,
            who: "\(host), user \"\(user)\", database \"\(database)\""))
    }

    /// Carries out the next login step.
    private func performLogin(_ action: LoginMachine.Action) {
        switch action {
        case .authenticateClient(let method):
            authenticateClient(method: method)
        case .captureClearTextPassword:
            // No pool_passwd entry: take the client's clear-text password to the backend.
            guard let user = startup?.user else { return }
            authenticateClient(ClientAuthMachine(capturingClearTextPasswordOf: user))
        case .leaseBackend(let password):
            connectBackend(clientPassword: password)
        case .finishLogin:
            finishLogin()
        case .reportBackendFailure(let failure):
            reportBackendFailure(failure)
        case .reject(let error):
            logger.info("client rejected by pool_hba.conf", metadata: ["error": "\(error.message ?? "")"])
            fatal(error)
        }
    }

    func authenticateClient(method: AuthMethod) {
        guard let user = startup?.user else { return }
        let credentials = runtime.credentials
        let stored = credentials.password(for: user)
        guard method == .scramSHA256, !credentials.hasClientSideKeys(for: user), case .plain = stored else {
            let keys = method == .scramSHA256 ? credentials.clientSideKeys(for: user) : nil
            return authenticateClient(ClientAuthMachine(method: method, user: user, stored: stored, clientSideKeys: keys))
        }
        // A user's first SCRAM login derives its keys (PBKDF2): off the event loop.
        phase = .preparingAuthentication
        let derivation = NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) {
            credentials.clientSideKeys(for: user)
        }
        derivation.assumeIsolated().whenComplete { [self] result in
            guard case .preparingAuthentication = phase else { return }
            let keys = (try? result.get()) ?? nil
            authenticateClient(ClientAuthMachine(method: method, user: user, stored: stored, clientSideKeys: keys))
        }
    }

    private func authenticateClient(_ machine: ClientAuthMachine) {
        var machine = machine
        let first = machine.start()
        phase = .authenticating(machine)
        perform(first)
        if case .authenticating = phase, let held = startupBuffer {
            startupBuffer = nil
            readAuthentication(held)
        }
    }

    func readAuthentication(_ bytes: ByteBuffer) {
        // Collect first: handling a message may start the next phase, which reads the splitter.
        var messages: [RawMessage] = []
        do {
            try splitter.feed(bytes) { messages.append($0) }
        } catch {
            return protocolViolation("\(error)")
        }
        for (index, message) in messages.enumerated() {
            guard case .authenticating(var machine) = phase else {
                // Authentication finished: what the client pipelined after it waits for forwarding.
                var held = startupBuffer ?? context.channel.allocator.buffer(capacity: 0)
                for var rest in messages[index...].map(\.bytes) { held.writeBuffer(&rest) }
                if let tail = splitter.takeBuffered() { var tail = tail; held.writeBuffer(&tail) }
                if case .forwarding = phase {
                    forwardFromClient(held)
                    primaryConnection?.channel.flush()
                } else {
                    startupBuffer = held
                }
                return
            }
            guard message.type == FrontendMessageType.password else {
                return protocolViolation("expected password response, got message type '\(Character(Unicode.Scalar(message.type)))'")
            }
            let action = machine.receive(passwordMessage: message.body)
            phase = .authenticating(machine)
            perform(action)
        }
    }

    private func perform(_ action: ClientAuthMachine.Action) {
        guard case .authenticating(let machine) = phase else { return }
        switch action {
        case .send(let bytes):
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        case .sendAndAuthenticate(let bytes):
            context.write(wrapOutboundOut(bytes), promise: nil)
            performLogin(login.clientAuthenticated())
        case .authenticated:
            performLogin(login.clientAuthenticated())
        case .captured(let password):
            performLogin(login.passwordCaptured(password))
        case .fail(let error):
            if let method = machine.verifiedMethod, let user = startup?.user,
               let problem = runtime.credentials.problem(verifying: user, with: method) {
                logger.warning("client authentication failed", metadata: ["sqlstate": "\(error.sqlState ?? "")", "reason": "\(problem)"])
            } else {
                logger.info("client authentication failed", metadata: ["sqlstate": "\(error.sqlState ?? "")"])
            }
            fatal(error)
        }
    }

    // MARK: Backend

    private func connectBackend(clientPassword: String?) {
        guard let startup else { return }
        guard let node = runtime.primaryNode() else {
            return fatal(ErrorFields(severity: .fatal, sqlState: "57P03", message: "no backend node is available",
                                     hint: "Every backend node is down or detached."))
        }
        phase = .connectingBackend
        pool.lease(node, key: PoolKey(nodeID: node.id, startup: startup), clientPassword: clientPassword) { [self] result in
            guard case .connectingBackend = phase else {
                // The client left meanwhile: hand the connection back untouched.
                if case .success(let (connection, _)) = result { pool.giveBack(connection) }
                return
            }
            switch result {
            case .success(let (connection, reused)):
                primaryConnection = connection
                connection.owner = self
                connection.counters = runtime.statistics.counters(for: node.id)
                logger.debug("backend leased", metadata: ["node": "\(node.id)", "reused": "\(reused)"])
                if !reused { runtime.cluster.markUsed(node.id) }
                performLogin(login.backendLeased(askedFor: connection.authMethod))
            case .failure(let failure):
                performLogin(login.backendFailed(failure))
            }
        }
    }

    private func reportBackendFailure(_ failure: BackendConnectError) {
        logger.warning("backend login failed", metadata: ["node": "\(failure.node.id)", "error": "\(failure)"])
        switch failure {
        case .loginFailed(_, .rejected(let fields), _):
            var fields = fields
            fields.fields[UInt8(ascii: "S")] = "FATAL"
            fields.fields[UInt8(ascii: "V")] = "FATAL"
            fatal(fields)
        case .loginFailed(let node, .noUsablePassword(let method), _):
            fatal(ErrorFields(severity: .fatal, sqlState: "28P01",
                              message: "password authentication failed for user \"\(startup?.user ?? "")\"",
                              detail: "SwiftPool has no password in pool_passwd usable for \(method.rawValue) authentication to \(node)."))
        case .loginFailed(let node, .protocolViolation(let text), _):
            fatal(ErrorFields(severity: .fatal, sqlState: "08P01", message: "\(node) violated the protocol during login: \(text)"))
        case .unreachable(let node, let error):
            runtime.backendLost(node.id, false)
            fatal(ErrorFields(severity: .fatal, sqlState: "08006", message: "cannot connect to \(node): \(error)",
                              hint: "Check that the backend is running and accepts TCP connections."))
        case .closedDuringLogin(let node):
            fatal(ErrorFields(severity: .fatal, sqlState: "08006", message: "\(node) closed the connection during login"))
        case .timedOut(let node):
            runtime.backendLost(node.id, false)
            fatal(ErrorFields(severity: .fatal, sqlState: "08006", message: "timed out connecting to \(node)"))
        }
    }

    /// Both sides are authenticated: tell the client, and start forwarding.
    func finishLogin() {
        guard let primaryConnection else { return }
        authTimer?.cancel()
        let key = runtime.cancelRegistry.register()
        clientKey = key
        runtime.cancelRegistry.setTarget(.init(node: primaryConnection.node, backendKey: primaryConnection.backendKey), for: key)
        var buffer = context.channel.allocator.buffer(capacity: 512)
        BackendMessageEncoder.authenticationOk(into: &buffer)
        for (name, value) in primaryConnection.parameters.entries {
            BackendMessageEncoder.parameterStatus(name: name, value: value, into: &buffer)
        }
        BackendMessageEncoder.backendKeyData(key, into: &buffer)
        BackendMessageEncoder.readyForQuery(primaryConnection.tracker.transactionStatus, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        phase = .forwarding
        counted = true
        runtime.connections.accepted()
        splitter.maxMessageLength = settings.maxMessageLength
        splitter.streamThreshold = DispatchMachine.streamThreshold
        startDispatch()
        lastClientActivity = .now()
        startIdleTimer(after: settings.clientIdleLimit)
        if settings.logConnections {
            logger.info("client connected", metadata: ["node": "\(primaryConnection.node.id)", "remote": "\(remoteAddress ?? "local")"])
        }
        if let held = startupBuffer {
            startupBuffer = nil
            forwardFromClient(held)
            primaryConnection.channel.flush()
        }
    }
}
