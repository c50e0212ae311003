import Logging
import NIOCore
import NIOPosix
import PostgresWire

/// The I/O of a client's login: the slot, the credentials, the lease of the primary connection.
extension ClientSessionHandler {
    func requestSlot() {
        guard let context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        slotRequestedAt = .now()
        slotRequestID = runtime.admission.acquire(on: context.eventLoop, waitAtMost: settings.clientWaitTimeout) { outcome in
            loopBound.value.admission(outcome)
        }
    }

    private func admission(_ outcome: ClientAdmission.Outcome) {
        guard case .awaitingSlot = machine.phase else {
            // The client left while waiting; a slot that still arrived goes straight back.
            if case .granted = outcome { runtime.admission.release() }
            return
        }
        slotRequestID = nil
        if let requested = slotRequestedAt {
            runtime.connections.slotWait.record(microseconds: Int((NIODeadline.now() - requested).nanoseconds / 1000))
        }
        switch outcome {
        case .granted:
            guard let startup, let user = startup.user else { return }
            let database = startup.database ?? user
            let tls = context.map { TLSConnectionInfo(channel: $0.channel) } ?? TLSConnectionInfo()
            let verdict = runtime.authPolicy.map {
                $0(ClientConnectionInfo(remoteAddress: remoteAddress, user: user, database: database, isSSL: tls.isTLS,
                                        certificateCommonName: tls.peerCommonName))
            }
            let host = remoteAddress.map { "host \"\($0)\"" } ?? "local connection"
            let capturesClearText = settings.allowClearTextFrontendAuth && runtime.credentials.password(for: user) == nil
            run { machine, _, actions in
                machine.slotGranted(verdict: verdict, capturesClearText: capturesClearText,
                                    who: "\(host), user \"\(user)\", database \"\(database)\"", encrypted: tls.isTLS,
                                    into: &actions)
            }
        case .refused, .timedOut:
            run { machine, _, actions in machine.slotRefused(into: &actions) }
        }
    }

    /// Looks up the user's credentials for `method` and starts the client's authentication; a
    /// user's first SCRAM login derives its keys (PBKDF2) off the event loop first.
    func prepareClientAuthentication(_ method: AuthMethod) {
        guard let user = startup?.user, let context else { return }
        let credentials = runtime.credentials
        let stored = credentials.password(for: user)
        // On TLS, SCRAM may bind to the certificate the client saw (SCRAM-SHA-256-PLUS).
        let binding = method == .scramSHA256 && TLSConnectionInfo(channel: context.channel).isTLS
            ? clientTLS.map { ChannelBinding.tlsServerEndPointData(certificateDER: $0.certificateDER) } : nil
        guard method == .scramSHA256, !credentials.hasClientSideKeys(for: user), case .plain = stored else {
            let keys = method == .scramSHA256 ? credentials.clientSideKeys(for: user) : nil
            let auth = ClientAuthMachine(method: method, user: user, stored: stored, clientSideKeys: keys, channelBinding: binding)
            return run { machine, _, actions in machine.startClientAuthentication(auth, into: &actions) }
        }
        machine.derivingClientKeys()
        let derivation = NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) {
            credentials.clientSideKeys(for: user)
        }
        derivation.assumeIsolated().whenComplete { [self] result in
            guard machine.isPreparingAuthentication else { return }
            let keys = (try? result.get()) ?? nil
            let auth = ClientAuthMachine(method: method, user: user, stored: stored, clientSideKeys: keys, channelBinding: binding)
            run { machine, _, actions in machine.startClientAuthentication(auth, into: &actions) }
        }
    }

    func logAuthenticationFailure(sqlState: String?, method: AuthMethod?) {
        if let method, let user = startup?.user, let problem = runtime.credentials.problem(verifying: user, with: method) {
            logger.warning("client authentication failed", metadata: ["sqlstate": "\(sqlState ?? "")", "reason": "\(problem)"])
        } else {
            logger.info("client authentication failed", metadata: ["sqlstate": "\(sqlState ?? "")"])
        }
    }

    /// How long a login waits at most for a failover to settle the primary (Pgpool-II's children
    /// wait 30 s too); then it goes on with the node that serves meanwhile.
    static let primaryGateWait: TimeAmount = .seconds(30)

    func leasePrimary(clientPassword: String?) {
        if primaryGateWait == nil, waitForPrimaryGate(clientPassword: clientPassword) { return }
        guard let startupKey, let node = runtime.primaryNode() else {
            return run { machine, _, actions in machine.primaryLeaseFailed(nil, into: &actions) }
        }
        self.clientPassword = clientPassword
        if transactionMode { return leaseLoginConnection(node) }
        pool.lease(node, key: startupKey.onNode(node.id), clientPassword: clientPassword) { [self] result in
            guard machine.isConnectingBackend else {
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
                run { machine, _, actions in machine.primaryLeased(askedFor: connection.authMethod, into: &actions) }
            case .failure(let failure):
                run { machine, _, actions in machine.primaryLeaseFailed(failure, into: &actions) }
            }
        }
    }

    /// While a failover replaces the primary, the login waits for the new one instead of
    /// landing on a standby (where its writes would fail with 25006). False when no failover
    /// runs. A login waits once.
    private func waitForPrimaryGate(clientPassword: String?) -> Bool {
        guard let context else { return false }
        let gate = runtime.cluster.primaryGate
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        guard let ticket = gate.whenOpen({ loopBound.eventLoop.execute { loopBound.value.primaryGateOpened() } }) else {
            return false
        }
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: Self.primaryGateWait) { [self] in
            gate.cancel(ticket)
            primaryGateOpened()
        }
        primaryGateWait = PrimaryGateWait(ticket: ticket, timeout: timeout, clientPassword: clientPassword, done: false)
        logger.debug("login waits for the failover to settle the primary")
        return true
    }

    func primaryGateOpened() {
        guard var wait = primaryGateWait, !wait.done else { return }
        wait.done = true
        primaryGateWait = wait
        wait.timeout.cancel()
        if let old = wait.failoverFrom {
            return moveToNewPrimary(after: old, unitWaiting: wait.unitWaiting) ? () : terminateForFailover()
        }
        guard machine.isConnectingBackend else { return }
        leasePrimary(clientPassword: wait.clientPassword)
    }

    /// The session ended: it waits for nothing any more.
    func cancelPrimaryGateWait() {
        unitAwaitingFailover?.timeout.cancel()
        unitAwaitingFailover = nil
        guard var wait = primaryGateWait, !wait.done else { return }
        wait.done = true
        primaryGateWait = wait
        wait.timeout.cancel()
        runtime.cluster.primaryGate.cancel(wait.ticket)
    }

    /// Transaction mode: the login's connection comes from the transaction pool too.
    private func leaseLoginConnection(_ node: BackendNode) {
        if let startupKey,
           let facts = pool.loginFacts.facts(for: startupKey.onNode(node.id), clientPassword: clientPassword, now: .now()) {
            // A login with this startup packet leased a connection lately: answered from what it learnt.
            runtime.transactionPool.loginAnsweredFromFacts()
            loginReply = facts.reply
            return run { machine, _, actions in machine.primaryLeased(askedFor: facts.authMethod, into: &actions) }
        }
        leaseFromTransactionPool(node, for: .login)
    }

    /// The login's connection came from the transaction pool. What the login needs of it (how
    /// the server authenticated SwiftPool, the parameters of the reply) is kept, and it goes back
    /// to the pool at once: a client that takes its time to authenticate (or never does) holds
    /// no connection other clients wait for.
    func attachLoginConnection(_ connection: BackendConnection, reused: Bool) {
        guard machine.isConnectingBackend else { return giveBackToTransactionPool(connection) }
        if !reused { runtime.cluster.markUsed(connection.node.id) }
        let reply = LoginReply(node: connection.node.id, parameters: connection.parameters,
                               status: connection.tracker.transactionStatus)
        loginReply = reply
        let askedFor = connection.authMethod
        if let startupKey {
            pool.loginFacts.learn(.init(reply: reply, authMethod: askedFor, learntAt: .now()),
                                  for: startupKey.onNode(reply.node), clientPassword: clientPassword)
        }
        giveBackToTransactionPool(connection)
        run { machine, _, actions in machine.primaryLeased(askedFor: askedFor, into: &actions) }
    }

    /// No connection for the login came from the transaction pool.
    func loginLeaseFailed(_ error: TransactionLeaseError) {
        guard machine.isConnectingBackend else { return }
        switch error {
        case .connect(let failure):
            if awaitFailoverAtLogin(failure) { return }
            run { machine, _, actions in machine.primaryLeaseFailed(failure, into: &actions) }
        case .timedOut(let wait):
            let fields = Self.poolTimeout(wait)
            run { machine, _, actions in machine.fatal(fields, into: &actions) }
        case .settingsNotRestored(let reason):
            let fields = ErrorFields(severity: .fatal, sqlState: "08006", message: "could not prepare a pooled connection: \(reason)")
            run { machine, _, actions in machine.fatal(fields, into: &actions) }
        }
    }

    /// Transaction mode: the login's primary could not be reached (refused, timed out), maybe
    /// before anything noticed it was down. The node is reported; once the failover that starts
    /// has begun (the primary gate closed) or is over (another primary), the login waits for
    /// it and tries again, once. Without either within ``loginFailoverLooks`` looks 100 ms apart,
    /// it fails as it would have at once. False when it cannot wait (it tried again already).
    private func awaitFailoverAtLogin(_ failure: BackendConnectError) -> Bool {
        guard transactionMode, !loginTriedAgain, let context else { return false }
        switch failure {
        case .unreachable, .timedOut: break
        case .closedDuringLogin, .loginFailed: return false
        }
        loginTriedAgain = true
        logger.info("login waits for the failover of its unreachable primary", metadata: ["node": "\(failure.node.id)"])
        runtime.backendLost(failure.node.id, false)
        lookForFailover(of: failure, looksLeft: Self.loginFailoverLooks, on: context.eventLoop)
        return true
    }

    /// How many times, 100 ms apart, a login whose primary was unreachable looks for the
    /// failover its report should start.
    static let loginFailoverLooks = 30

    private func lookForFailover(of failure: BackendConnectError, looksLeft: Int, on loop: EventLoop) {
        loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { [self] in
            guard machine.isConnectingBackend else { return }
            if runtime.cluster.primaryGate.isClosed || runtime.primaryNode().map({ $0.id != failure.node.id }) == true {
                // The gate is waited at again if it is closed.
                primaryGateWait = nil
                return leasePrimary(clientPassword: clientPassword)
            }
            guard looksLeft > 1 else {
                return run { machine, _, actions in machine.primaryLeaseFailed(failure, into: &actions) }
            }
            lookForFailover(of: failure, looksLeft: looksLeft - 1, on: loop)
        }
    }

    /// Both sides are authenticated: registers the client's cancel key, sets up routing and lets
    /// the machine send the login reply.
    func completeLogin() {
        guard let context else { return }
        let reply: LoginReply
        if let primaryConnection {
            reply = LoginReply(node: primaryConnection.node.id, parameters: primaryConnection.parameters,
                               status: primaryConnection.tracker.transactionStatus)
            _ = cancelRoute.backendRuns(node: primaryConnection.node.id)
        } else if let loginReply {
            // A failover while the client authenticated: its units go to the new primary.
            let primary = runtime.primaryNode()?.id ?? loginReply.node
            reply = LoginReply(node: primary, parameters: loginReply.parameters, status: loginReply.status)
            self.loginReply = nil
        } else {
            return
        }
        primaryNodeID = reply.node
        let session = NIOLoopBound(self, eventLoop: context.eventLoop)
        let registration = runtime.cancelRegistry.register { session.eventLoop.execute { session.value.cancelRequested() } }
        cancelRegistration = registration
        let key = registration.key
        let dispatch = makeDispatch(primary: reply.node)
        run { machine, env, actions in
            machine.loggedIn(parameters: reply.parameters, clientKey: key, status: reply.status, dispatch: dispatch, &env,
                             now: { .now() }, into: &actions)
        }
        if settings.logConnections {
            logger.info("client connected", metadata: ["node": "\(reply.node)", "remote": "\(remoteAddress ?? "local")"])
        }
    }
}

/// What a login's reply is made of: the primary it landed on, the server's parameters and its
/// transaction status (kept in transaction mode, where the login's connection is given back
/// before the client authenticates).
struct LoginReply {
    let node: Int
    let parameters: ParameterStatusSet
    let status: TransactionStatus
}

/// A wait for the ``PrimaryGate`` to open: a login's, or (`failoverFrom`, the primary that went
/// down) a transaction-mode session's between units of work.
struct PrimaryGateWait {
    let ticket: UInt64
    let timeout: Scheduled<Void>
    let clientPassword: String?
    var done: Bool
    var failoverFrom: Int? = nil
    /// With `failoverFrom`: a unit of work waits to run on the new primary.
    var unitWaiting = false
}
