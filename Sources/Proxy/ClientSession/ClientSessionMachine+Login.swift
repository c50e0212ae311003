import NIOCore
import PostgresWire

/// The startup packet, the client slot, authentication and the backend lease, up to the login
/// reply.
extension ClientSessionMachine {
    // MARK: Startup packet

    mutating func readStartup(_ bytes: ByteBuffer, into actions: inout [Action]) {
        var buffer = heldBeforeForwarding ?? ByteBuffer()
        heldBeforeForwarding = nil
        buffer.writeImmutableBuffer(bytes)
        while case .awaitingStartup = phase {
            let packet: StartupPacket?
            do {
                packet = try StartupPacket.decode(from: &buffer)
            } catch .unsupportedProtocol(let major, let minor) {
                return fatal(ErrorFields(severity: .fatal, sqlState: "0A000",
                                         message: "unsupported frontend protocol \(major).\(minor): server supports 3.0 to 3.0"),
                             into: &actions)
            } catch {
                return protocolViolation("invalid startup packet: \(error)", into: &actions)
            }
            guard let packet else {
                if buffer.readableBytes > 0 { heldBeforeForwarding = buffer }
                return
            }
            switch packet {
            case .sslRequest, .gssEncRequest:
                // No TLS or GSS encryption: the client goes on in plain text.
                actions.append(.writeClient(ByteBuffer(integer: UInt8(ascii: "N"))))
                actions.append(.flushClient)
            case .cancel(let key):
                actions.append(.forwardCancel(key))
                end(reason: "cancel request", into: &actions)
                actions.append(.closeClient)
                return
            case .startup(let parameters):
                if buffer.readableBytes > 0 { heldBeforeForwarding = buffer }
                return received(startup: parameters, into: &actions)
            }
        }
    }

    /// `_pq_.` options, by bytes (a combining mark after the dot would hide a `Character` prefix).
    static func isProtocolOption(_ name: String) -> Bool { name.utf8.starts(with: "_pq_.".utf8) }

    private mutating func received(startup requested: StartupParameters, into actions: inout [Action]) {
        if refusedAtCap { return refuseAtCap(into: &actions) }
        var parameters = requested
        let options = parameters.pairs.map(\.0).filter(Self.isProtocolOption)
        if parameters.protocolVersion != ProtocolCode.protocolVersion3 || !options.isEmpty {
            // SwiftPool speaks 3.0 on both sides; a newer client is told so and goes on with 3.0.
            parameters.protocolVersion = ProtocolCode.protocolVersion3
            parameters.pairs.removeAll { Self.isProtocolOption($0.0) }
            var reply = ByteBuffer()
            BackendMessageEncoder.negotiateProtocolVersion(newestMinor: 0, unrecognizedOptions: options, into: &reply)
            actions.append(.writeClient(reply))
            actions.append(.flushClient)
        }
        guard let user = parameters.user, !user.isEmpty else {
            return fatal(ErrorFields(severity: .fatal, sqlState: "28000", message: "no PostgreSQL user name specified in startup packet"),
                         into: &actions)
        }
        if parameters["replication"].map({ $0 != "false" && $0 != "off" && $0 != "0" }) ?? false {
            return fatal(ErrorFields(severity: .fatal, sqlState: "0A000", message: "replication connections are not supported by SwiftPool"),
                         into: &actions)
        }
        startup = parameters
        actions.append(.identified(parameters))
        actions.append(.cancelTimer(.authentication))
        phase = .awaitingSlot
        actions.append(.requestSlot)
    }

    // MARK: The client slot

    /// The client got its slot.
    /// - Parameters:
    ///   - verdict: pool_hba.conf's verdict, nil without pool_hba.
    ///   - capturesClearText: allow_clear_text_frontend_auth is on and the user has no
    ///     pool_passwd entry.
    ///   - who: the connection as pool_hba errors describe it.
    mutating func slotGranted(verdict: ClientAuthDecision?, capturesClearText: Bool, who: String, encrypted: Bool = false,
                              into actions: inout [Action]) {
        guard case .awaitingSlot = phase else { return }
        holdsSlot = true
        if countedWithoutSlot {
            countedWithoutSlot = false
            actions.append(.leftWithoutSlot)
        }
        startAuthenticationTimer(into: &actions)
        performLogin(login.slotGranted(verdict: verdict, capturesClearText: capturesClearText, who: who, encrypted: encrypted),
                     into: &actions)
    }

    /// No slot became free in time.
    mutating func slotRefused(into actions: inout [Action]) {
        guard case .awaitingSlot = phase else { return }
        actions.append(.log(.warning, "client refused: all num_init_children slots are busy"))
        fatal(ErrorFields(severity: .fatal, sqlState: "53300", message: "sorry, too many clients already",
                          hint: "All \(settings.numInitChildren) client slots (num_init_children) are in use; retry later."),
              into: &actions)
    }

    /// Carries out the login step the login machine named.
    private mutating func performLogin(_ step: LoginMachine.Action, into actions: inout [Action]) {
        switch step {
        case .authenticateClient(let method):
            actions.append(.prepareClientAuthentication(method))
        case .captureClearTextPassword:
            // No pool_passwd entry: take the client's clear-text password to the backend.
            guard let user = startup?.user else { return }
            startClientAuthentication(ClientAuthMachine(capturingClearTextPasswordOf: user), into: &actions)
        case .leaseBackend(let password):
            phase = .connectingBackend
            actions.append(.leasePrimary(clientPassword: password))
        case .finishLogin:
            actions.append(.completeLogin)
        case .reportBackendFailure(let failure):
            reportBackendFailure(failure, into: &actions)
        case .reject(let error):
            actions.append(.log(.info, "client rejected by pool_hba.conf", ["error": "\(error.message ?? "")"]))
            fatal(error, into: &actions)
        }
    }

    // MARK: Authentication

    /// The user's SCRAM keys are being derived (the first SCRAM login of a user).
    mutating func derivingClientKeys() {
        if !isClosed { phase = .preparingAuthentication }
    }

    var isPreparingAuthentication: Bool { if case .preparingAuthentication = phase { true } else { false } }

    /// Starts authenticating the client with `auth`, then reads what the client sent meanwhile.
    mutating func startClientAuthentication(_ auth: ClientAuthMachine, into actions: inout [Action]) {
        if case .closed = phase { return }
        var auth = auth
        let first = auth.start()
        phase = .authenticating
        clientAuth = auth
        handle(first, into: &actions)
        if case .authenticating = phase, let held = heldBeforeForwarding {
            heldBeforeForwarding = nil
            readAuthentication(held, into: &actions)
        }
    }

    mutating func readAuthentication(_ bytes: ByteBuffer, into actions: inout [Action]) {
        // Collect first: handling a message may end authentication; what follows it is held.
        var messages: [RawMessage] = []
        do {
            try splitter.feed(bytes) { messages.append($0) }
        } catch {
            return protocolViolation("\(error)", into: &actions)
        }
        for (index, message) in messages.enumerated() {
            guard case .authenticating = phase, var auth = clientAuth else {
                clientAuth = nil
                guard !isClosed else { return }
                // Authentication finished: what the client pipelined after it waits for forwarding.
                var held = heldBeforeForwarding ?? ByteBuffer()
                for rest in messages[index...] { held.writeImmutableBuffer(rest.bytes) }
                if let tail = splitter.takeBuffered() { held.writeImmutableBuffer(tail) }
                heldBeforeForwarding = held
                return
            }
            guard message.type == FrontendMessageType.password else {
                return protocolViolation("expected password response, got message type '\(Character(Unicode.Scalar(message.type)))'",
                                         into: &actions)
            }
            let step = auth.receive(passwordMessage: message.body)
            clientAuth = auth
            handle(step, into: &actions)
        }
    }

    private mutating func handle(_ step: ClientAuthMachine.Action, into actions: inout [Action]) {
        guard case .authenticating = phase, let auth = clientAuth else { return }
        switch step {
        case .send(let bytes):
            actions.append(.writeClient(bytes))
            actions.append(.flushClient)
        case .sendAndAuthenticate(let bytes):
            actions.append(.writeClient(bytes))
            performLogin(login.clientAuthenticated(), into: &actions)
        case .authenticated:
            performLogin(login.clientAuthenticated(), into: &actions)
        case .captured(let password):
            performLogin(login.passwordCaptured(password), into: &actions)
        case .fail(let error):
            actions.append(.logAuthenticationFailure(sqlState: error.sqlState, method: auth.verifiedMethod))
            fatal(error, into: &actions)
        }
    }

    // MARK: Backend

    var isConnectingBackend: Bool { if case .connectingBackend = phase { true } else { false } }

    /// The connection to the primary is leased; `askedFor` is how the backend authenticated
    /// SwiftPool.
    mutating func primaryLeased(askedFor: AuthMethod, into actions: inout [Action]) {
        guard case .connectingBackend = phase else { return }
        performLogin(login.backendLeased(askedFor: askedFor), into: &actions)
    }

    /// No connection to the primary: none is known (`nil`), or it failed.
    mutating func primaryLeaseFailed(_ failure: BackendConnectError?, into actions: inout [Action]) {
        guard case .connectingBackend = phase else { return }
        guard let failure else {
            return fatal(ErrorFields(severity: .fatal, sqlState: "57P03", message: "no backend node is available",
                                     hint: "Every backend node is down or detached."),
                         into: &actions)
        }
        performLogin(login.backendFailed(failure), into: &actions)
    }

    private mutating func reportBackendFailure(_ failure: BackendConnectError, into actions: inout [Action]) {
        actions.append(.log(.warning, "backend login failed", ["node": "\(failure.node.id)", "error": "\(failure)"]))
        switch failure {
        case .loginFailed(_, .rejected(let fields), _):
            var fields = fields
            fields.fields[UInt8(ascii: "S")] = "FATAL"
            fields.fields[UInt8(ascii: "V")] = "FATAL"
            fatal(fields, into: &actions)
        case .loginFailed(let node, .noUsablePassword(let method), _):
            fatal(ErrorFields(severity: .fatal, sqlState: "28P01",
                              message: "password authentication failed for user \"\(startup?.user ?? "")\"",
                              detail: "SwiftPool has no password in pool_passwd usable for \(method.rawValue) authentication to \(node)."),
                  into: &actions)
        case .loginFailed(let node, .protocolViolation(let text), _):
            fatal(ErrorFields(severity: .fatal, sqlState: "08P01", message: "\(node) violated the protocol during login: \(text)"),
                  into: &actions)
        case .unreachable(let node, let error):
            actions.append(.backendLost(node: node.id, shutdown: false))
            fatal(ErrorFields(severity: .fatal, sqlState: "08006", message: "cannot connect to \(node): \(BackendConnectError.reason(error))",
                              hint: "Check that the backend is running and accepts TCP connections."),
                  into: &actions)
        case .closedDuringLogin(let node):
            fatal(ErrorFields(severity: .fatal, sqlState: "08006", message: "\(node) closed the connection during login"),
                  into: &actions)
        case .timedOut(let node):
            actions.append(.backendLost(node: node.id, shutdown: false))
            fatal(ErrorFields(severity: .fatal, sqlState: "08006", message: "timed out connecting to \(node)"), into: &actions)
        }
    }

    // MARK: Login reply

    /// Both sides are authenticated: the login reply goes to the client, forwarding starts
    /// (with what the client sent meanwhile).
    /// - Parameters:
    ///   - parameters: the primary connection's parameter statuses.
    ///   - clientKey: the cancel key the client gets.
    ///   - status: the primary connection's transaction status.
    ///   - dispatch: where client messages go from now on.
    mutating func loggedIn<E: SessionEnvironment>(
        parameters: ParameterStatusSet, clientKey: BackendKey, status: TransactionStatus, dispatch: DispatchMachine,
        _ env: inout E, now: () -> NIODeadline, into actions: inout [Action]
    ) {
        guard !isClosed else { return }
        actions.append(.cancelTimer(.authentication))
        var reply = ByteBuffer()
        reply.reserveCapacity(512)
        BackendMessageEncoder.authenticationOk(into: &reply)
        for (name, value) in parameters.entries {
            BackendMessageEncoder.parameterStatus(name: name, value: value, into: &reply)
        }
        BackendMessageEncoder.backendKeyData(clientKey, into: &reply)
        BackendMessageEncoder.readyForQuery(status, into: &reply)
        actions.append(.writeClient(reply))
        actions.append(.flushClient)
        phase = .forwarding
        clientAuth = nil
        counted = true
        actions.append(.connectionAccepted)
        splitter.maxMessageLength = settings.maxMessageLength
        splitter.streamThreshold = DispatchMachine.streamThreshold
        self.dispatch = dispatch
        configuredRouting = dispatch.everyDecisionIsPrimary ? nil : dispatch.routing.settings
        lastClientActivity = now()
        startIdleTimer(after: settings.clientIdleLimit, into: &actions)
        if let held = heldBeforeForwarding {
            heldBeforeForwarding = nil
            forward(held, &env, now: now, into: &actions)
        }
        if dispatch.isPooled { releaseIfBetweenUnits(&env, into: &actions) }
    }
}
