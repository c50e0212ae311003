import Cluster
import Foundation
import Logging
import NIOCore
import NIOPosix
import Proxy
import UnixSignals

/// Runs the proxy in the foreground: load the configuration, find the primary, serve, and react
/// to signals until shutdown.
struct ProxyMain {
    var files: ConfigFiles
    var debug: Bool

    func run() async throws {
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

        let cluster = ClusterState(nodes: bundle.nodes)
        await findPrimary(bundle: bundle, cluster: cluster, logger: logger)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: bundle.eventLoopCount)
        let catalog = CatalogFactsCache(lookup: bundle.catalogLookup(primary: cluster.snapshot.primary), logger: logger)
        let runtime = ProxyRuntime(
            settings: bundle.settings, credentials: CredentialStore(passwords: bundle.passwords),
            authPolicy: bundle.authPolicy, routing: bundle.routing, cluster: cluster, catalog: catalog, logger: logger,
            primaryNode: { Self.servingNode(cluster.snapshot) })
        let server = ProxyServer(runtime: runtime, group: group)
        do {
            try await server.start()
        } catch {
            try? await group.shutdownGracefully()
            throw StartupError("cannot listen on port \(bundle.settings.port): \(error)")
        }
        let healthChecker = HealthChecker(cluster: cluster, logger: logger)
        healthChecker.start(bundle.healthCheckTargets(cluster: cluster))
        logger.info("swiftpool \(SwiftPoolCommand.version) started", metadata: [
            "event_loops": "\(bundle.eventLoopCount)", "num_init_children": "\(bundle.settings.numInitChildren)",
        ])

        var mode = ProxyServer.ShutdownMode.smart
        for await signal in signals {
            switch signal {
            case .sighup:
                if let fresh = reload(runtime: runtime, cluster: cluster, current: bundle, logger: logger) {
                    healthChecker.stop()
                    healthChecker.start(fresh.healthCheckTargets(cluster: cluster))
                }
                continue
            case .sigint: mode = .fast
            case .sigquit: mode = .immediate
            default: mode = .smart
            }
            break
        }
        logger.info("shutting down", metadata: ["mode": "\(mode.rawValue)"])
        healthChecker.stop()
        await server.shutdown(mode: mode)
        try? await group.shutdownGracefully()
        logger.info("swiftpool stopped")
    }

    /// Sessions are served by the primary; without one, by the first node (with a warning at
    /// start-up), as Pgpool-II falls back to node 0.
    static func servingNode(_ snapshot: ClusterState.Snapshot) -> BackendNode? {
        guard let node = snapshot.primary ?? snapshot.nodes.first(where: { $0.status != .down }) else { return nil }
        return BackendNode(id: node.id, host: node.host, port: node.port)
    }

    private func findPrimary(bundle: ConfigBundle, cluster: ClusterState, logger: Logger) async {
        let detector = bundle.primaryDetector
        let nodes = bundle.nodes
        let finding = try? await NIOThreadPool.singleton.runIfActive { detector.detect(nodes) }
        for (id, error) in finding?.errors ?? [:] {
            logger.warning("cannot check the role of backend node \(id)", metadata: ["error": "\(error)"])
        }
        if let primary = finding?.primaryID {
            cluster.setPrimary(primary)
            logger.info("primary node is \(primary)")
        } else {
            logger.warning("no primary node found; serving sessions from node \(nodes.first?.id ?? 0)")
        }
    }

    @discardableResult
    private func reload(runtime: ProxyRuntime, cluster: ClusterState, current: ConfigBundle, logger: Logger) -> ConfigBundle? {
        do {
            let fresh = try ConfigBundle.load(files)
            for line in fresh.diagnostics { logger.warning("\(line)") }
            for name in fresh.restartRequired(comparedWith: current) {
                logger.warning("parameter \"\(name)\" changed but needs a restart; the old value stays in effect")
            }
            let settings = current.settings.reloaded(with: fresh.settings)
            runtime.update(settings: settings, authPolicy: fresh.authPolicy, routing: fresh.routing)
            runtime.credentials.replacePasswords(fresh.passwords)
            cluster.replaceNodes(fresh.nodes)
            logger.info("configuration reloaded")
            return fresh
        } catch {
            logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
