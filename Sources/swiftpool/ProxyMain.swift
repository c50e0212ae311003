import AdminCore
import AdminHTTP
import Cluster
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PCP
import Proxy
import ServiceLifecycle
import UnixSignals
import Etcd
import Watchdog

/// Runs the proxy in the foreground: load the configuration, find the primary, wire the
/// components, start them in order, and let one service group run them until a signal (or a
/// component that cannot start) shuts them down in reverse order.
struct ProxyMain {
    var files: ConfigFiles
    var debug: Bool
    /// `-D`: ignore the pgpool_status file.
    var discardStatus: Bool

    func run() async throws {
        let startTime = Date().timeIntervalSince1970
        let bundle = try ConfigBundle.load(files)
        let level = debug ? .debug : bundle.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "swiftpool")
        for line in bundle.diagnostics { logger.warning("\(line)") }
        for name in bundle.notSupportedYet { logger.info("parameter \"\(name)\" is not supported yet and is ignored") }

        // Trap signals before anything can be started, so none is lost.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sigquit, .sighup)

        for directory in [bundle.config.socketDirectory, bundle.config.logDirectory] where !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let pidFile = PidFile(path: bundle.pidFilePath)
        try pidFile.acquire()
        defer { pidFile.remove() }

        let shutdown = ShutdownRequest()
        let (components, reloader) = await wire(bundle, startTime: startTime, shutdown: shutdown, logger: logger)
        var started: [Component] = []
        var failure: Error?
        for component in components {
            do {
                try await component.start()
            } catch {
                failure = error
                break
            }
            started.append(component)
        }

        let signalHandler = SignalHandler(signals: signals, reload: { _ = reloader.reload() }, shutdown: shutdown, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: started.map {
                .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup)
            } + [.init(service: signalHandler, successTerminationBehavior: .gracefullyShutdownGroup)],
            logger: logger))
        if failure != nil {
            // Stops what started, in reverse order, the same way as a shutdown.
            await group.triggerGracefulShutdown()
        } else {
            logger.info("swiftpool \(SwiftPoolCommand.version) started", metadata: [
                "event_loops": "\(bundle.eventLoopCount)", "num_init_children": "\(bundle.settings.numInitChildren)",
            ])
        }
        try await group.run()
        if let failure { throw failure }
        logger.info("swiftpool stopped")
    }

    /// Builds every component from the configuration, in start order: the event loops, the
    /// proxy server, the checks, the watchdog, the HTTP server and the PCP port. Nothing listens
    /// or runs yet.
    private func wire(_ bundle: ConfigBundle, startTime: Double, shutdown: ShutdownRequest, logger: Logger) async
        -> (components: [Component], reloader: Reloader)
    {
        let current = NIOLockedValueBox(bundle)
        // SwiftPool's own libpq connections follow the sessions' TLS policy to the nodes.
        LibPQConnection.setDefaultParameters(bundle.backendTLS.libpqParameters)
        let cluster = ClusterState(nodes: bundle.nodes)
        restoreStatus(of: cluster, path: bundle.config.statusFilePath, logger: logger)
        let statusWriter = StatusFileWriter(path: bundle.config.statusFilePath, cluster: cluster, logger: logger)
        cluster.observeStatus { _ in statusWriter.write() }
        let primaryFound = await findPrimaryOnce(bundle: bundle, cluster: cluster, logger: logger)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: bundle.eventLoopCount)
        let catalog = CatalogFactsCache(lookup: bundle.catalogLookup(primary: cluster.snapshot.primary), logger: logger)
        let coordinatorSlot = NIOLockedValueBox<FailoverCoordinator?>(nil)
        let adminCommands = DeferredAdminCommands()
        let runtime = ProxyRuntime(
            settings: bundle.settings, credentials: CredentialStore(passwords: bundle.passwords, unusable: bundle.unusablePasswords),
            authPolicy: bundle.authPolicy, routing: bundle.routing, cluster: cluster, catalog: catalog, logger: logger,
            primaryNode: { Self.servingNode(cluster.snapshot) },
            backendLost: { node, sawShutdown in
                coordinatorSlot.withLockedValue { $0 }?.backendLost(node, afterShutdownMessage: sawShutdown)
            },
            adminCommands: adminCommands, clientTLS: bundle.clientTLS, backendTLS: bundle.backendTLS)
        let server = ProxyServer(runtime: runtime, group: group)
        let healthChecker = HealthChecker(
            cluster: cluster, logger: logger,
            onFailure: { node in coordinatorSlot.withLockedValue { $0 }?.reportFailure(of: node, reason: .healthCheck) },
            onRecovery: { node in
                guard let coordinator = coordinatorSlot.withLockedValue({ $0 }) else { return }
                Task { await coordinator.releaseQuarantine(of: node) }
            })
        let coordinator = FailoverCoordinator(
            cluster: cluster, settings: bundle.config.failover,
            hooks: .init(
                endSessions: { server.endSessions(using: $0) },
                primaryChanged: { catalog.use(current.withLockedValue { $0 }.catalogLookup(primary: $0)) },
                probe: { await healthChecker.probe($0) },
                findPrimary: { nodes in
                    let detector = current.withLockedValue { $0 }.primaryDetector
                    return (try? await NIOThreadPool.singleton.runIfActive { detector.detect(nodes) })?.primaryID
                }),
            logger: logger)
        coordinatorSlot.withLockedValue { $0 = coordinator }
        let replicationChecker = ReplicationChecker(cluster: cluster, coordinator: coordinator, logger: logger)
        let walTracker = WALPositionTracker(cluster: cluster, positions: runtime.walPositions, logger: logger)
        let reloader = Reloader(files: files, current: current, runtime: runtime, cluster: cluster, coordinator: coordinator,
                                healthChecker: healthChecker, replicationChecker: replicationChecker, walTracker: walTracker,
                                logger: logger)

        // Without a primary at start-up, the search goes on in the background.
        var searchPrimary: (@Sendable () async -> Void)?
        if !primaryFound { searchPrimary = { _ = await coordinator.findPrimary() } }
        var components: [Component] = [
            .eventLoops(group),
            .proxy(server, port: bundle.settings.port, shutdown: shutdown),
            .checkers(health: healthChecker, targets: bundle.healthCheckTargets(cluster: cluster),
                      replication: replicationChecker, settings: bundle.replicationCheck,
                      wal: walTracker, walSettings: bundle.walPositionCheck,
                      searchPrimary: searchPrimary),
        ]
        var coordination: (any CoordinationMember)?
        if bundle.config.watchdog.enabled {
            let service = WatchdogService(
                config: bundle.config.watchdog, cluster: cluster, coordinator: coordinator, group: group, startTime: startTime,
                commandTimeout: bundle.config.failover.commandTimeout, logger: logger,
                reload: { _ = reloader.reload() })
            let local = bundle.config.watchdog.local
            components.append(.coordination(service, coordinator: coordinator, description: "watchdog",
                                            failure: "cannot start the watchdog on \(local.host):\(local.wdPort)"))
            coordination = service
        } else if bundle.config.etcd.enabled {
            let service = EtcdService(
                config: bundle.config.etcd, cluster: cluster, coordinator: coordinator, group: group,
                commandTimeout: bundle.config.failover.commandTimeout, logger: logger,
                reload: { _ = reloader.reload() })
            components.append(.coordination(service, coordinator: coordinator, description: "etcd coordination",
                                            failure: "cannot join the fleet through etcd (\(bundle.config.etcd.endpoints.joined(separator: ", ")))"))
            coordination = service
        }

        let services = AdminSurface.services(
            version: SwiftPoolCommand.version, startTime: startTime, cluster: cluster, coordinator: coordinator,
            runtime: runtime, server: server, healthChecker: healthChecker, reloader: reloader, coordination: coordination)
        adminCommands.set(SQLAdminCommands(services: services))
        if bundle.config.http.port > 0 {
            let router = AdminRouter(services: services, logger: logger)
            let http = HTTPServer(logger: logger) { router.handle($0) }
            reloader.onHTTPCertificateReload { http.replaceCertificate(key: $0.key, certificate: $0.certificate) }
            components.append(.http(http, addresses: bundle.config.http.listenAddresses, port: bundle.config.http.port,
                                    tls: bundle.httpTLS))
        }
        let pcp = PCPServer(
            group: group, responder: PCPResponder(services: services, logger: logger, stop: Self.signalSelf),
            users: services.pcpUsers, logger: logger,
            limits: PCPServer.Limits(authenticationTimeout: bundle.config.authenticationTimeout > .zero
                ? bundle.config.authenticationTimeout : .seconds(60)))
        components.append(.pcp(pcp, addresses: bundle.config.pcpListenAddresses, port: bundle.config.pcpPort,
                               socketDirectory: bundle.config.pcpSocketDirectory))
        return (components, reloader)
    }
    /// `pcp_stop_pgpool`'s modes as the signals SwiftPool already handles.
    @Sendable static func signalSelf(_ mode: UInt8) {
        let signal: Int32 = switch mode {
        case UInt8(ascii: "f"): SIGINT
        case UInt8(ascii: "i"): SIGQUIT
        default: SIGTERM
        }
        // After the reply has gone out.
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { _ = kill(getpid(), signal) }
    }

    /// Sessions are served by the primary; without a usable one, by the first usable node, as
    /// Pgpool-II falls back to its main node.
    static func servingNode(_ snapshot: ClusterState.Snapshot) -> BackendNode? {
        let primary = snapshot.primary.flatMap { $0.status.isUsable ? $0 : nil }
        guard let node = primary ?? snapshot.nodes.first(where: \.status.isUsable) else { return nil }
        return BackendNode(id: node.id, host: node.host, port: node.port)
    }

    /// Applies pgpool_status: nodes it records as down stay down (unless `-D`).
    private func restoreStatus(of cluster: ClusterState, path: String, logger: Logger) {
        if discardStatus {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        guard let saved = StatusFile.read(path: path) else { return }
        let down = cluster.snapshot.nodes.filter { saved[$0.id] == .down }.map(\.id)
        guard !down.isEmpty else { return }
        cluster.setStatuses(Dictionary(uniqueKeysWithValues: down.map { ($0, NodeStatus.down) }))
        logger.warning("backend nodes \(down) are down according to \(path); attach them to use them again")
    }

    /// One pass over the usable nodes at start-up; the search goes on in the background when it
    /// finds no primary.
    private func findPrimaryOnce(bundle: ConfigBundle, cluster: ClusterState, logger: Logger) async -> Bool {
        let detector = bundle.primaryDetector
        let usable = cluster.snapshot.nodes.filter(\.status.isUsable)
        if let always = usable.first(where: \.flags.alwaysPrimary) {
            cluster.setPrimary(always.id)
            logger.info("primary node is \(always.id) (ALWAYS_PRIMARY)")
            return true
        }
        let finding = try? await NIOThreadPool.singleton.runIfActive { detector.detect(usable) }
        for (id, error) in finding?.errors ?? [:] {
            logger.warning("cannot check the role of backend node \(id)", metadata: ["error": "\(error)"])
        }
        guard let primary = finding?.primaryID else {
            logger.warning("no primary node found yet; searching for up to search_primary_node_timeout")
            return false
        }
        cluster.setPrimary(primary)
        logger.info("primary node is \(primary)")
        return true
    }
}

/// Writes pgpool_status after every status change, one write at a time, always from the
/// latest snapshot.
final class StatusFileWriter: Sendable {
    private let path: String
    private let cluster: ClusterState
    private let logger: Logger
    private let lock = NIOLock()

    init(path: String, cluster: ClusterState, logger: Logger) {
        self.path = path
        self.cluster = cluster
        self.logger = logger
    }

    func write() {
        lock.withLock {
            do {
                try StatusFile.write(cluster.snapshot, to: path)
            } catch {
                logger.error("cannot write the status file", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
    }
}
