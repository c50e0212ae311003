import NIOCore
import NIOPosix
import PostgresWire

/// Opens and logs in new backend connections on a given event loop.
struct BackendConnector {
    var credentials: CredentialStore
    var connectTimeout: TimeAmount
    var maxMessageLength: Int
    /// TLS to the nodes' TCP ports, as in effect when a connection opens (a reload may change
    /// the CA); nil or `disable` for none.
    var tls: @Sendable () -> BackendTLS? = { nil }

    /// Connects to `node` and logs in with the client's startup parameters. `completion` runs
    /// on `eventLoop` exactly once.
    func connect(
        to node: BackendNode, key: PoolKey, clientPassword: String? = nil, on eventLoop: EventLoop,
        completion: @escaping (Result<BackendConnection, BackendConnectError>) -> Void
    ) {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BackendChannelHandler())
                }
            }
        let connecting = node.isUnixSocket
            ? bootstrap.connect(unixDomainSocketPath: node.socketPath)
            : bootstrap.connect(host: node.host, port: node.port)

        let secret: BackendSecret
        var fromPoolPasswd = true
        switch credentials.password(for: key.user) {
        case .plain(let password): secret = .plain(password)
        case .md5(let hash): secret = .md5Hash(hash)
        case .scram, nil:
            secret = clientPassword.map { .plain($0) } ?? .none
            fromPoolPasswd = false
        }
        let machine = BackendStartupMachine(user: key.user, secret: secret) { [credentials] salt, iterations in
            guard case .plain(let password) = secret else { throw BackendStartupFailure.noUsablePassword(.scramSHA256) }
            // Keys of a password a client typed are not cached: it may be wrong, and there may be many.
            guard fromPoolPasswd else { return try SCRAMKeys.derive(password: password, salt: salt, iterations: iterations) }
            return try credentials.backendSideKeys(password: password, salt: salt, iterations: iterations)
        }
        let maxMessageLength = self.maxMessageLength
        let timeout = connectTimeout
        connecting.assumeIsolated().whenComplete { result in
            switch result {
            case .failure(let error):
                completion(.failure(.unreachable(node, error)))
            case .success(let channel):
                var finished = false
                let guardedCompletion: (Result<BackendConnection, BackendConnectError>) -> Void = { result in
                    guard !finished else { return }
                    finished = true
                    completion(result)
                }
                // The TLS handshake and the login share the connect budget; a backend that never
                // answers is closed.
                let loginTimer = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                    guardedCompletion(.failure(.timedOut(node)))
                    channel.close(promise: nil)
                }
                let login = {
                    do {
                        let context = try channel.pipeline.syncOperations.context(handlerType: BackendChannelHandler.self)
                        let handler = context.handler as! BackendChannelHandler
                        handler.begin(context: context, machine: machine, request: .init(
                            node: node, key: key, maxMessageLength: maxMessageLength,
                            completion: { result in
                                loginTimer.cancel()
                                guardedCompletion(result)
                            }))
                    } catch {
                        loginTimer.cancel()
                        channel.close(promise: nil)
                        guardedCompletion(.failure(.unreachable(node, error)))
                    }
                }
                guard let tls = tls(), tls.asksForTLS, !node.isUnixSocket else { return login() }
                BackendTLSUpgrade.start(on: channel, policy: tls, host: node.host).assumeIsolated().whenComplete { result in
                    switch result {
                    case .success:
                        login()
                    case .failure(let error):
                        // Not a lost node: the node answers, but not as the TLS policy requires.
                        loginTimer.cancel()
                        channel.close(promise: nil)
                        guardedCompletion(.failure(.loginFailed(node, .rejected(ErrorFields(
                            severity: .fatal, sqlState: "08006", message: "cannot use \(node) over TLS: \(error)",
                            hint: "Check backend_sslmode and ssl_ca_cert, and the node's ssl settings.")), askedMethod: .trust)))
                    }
                }
            }
        }
    }
}
