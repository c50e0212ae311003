import Configuration
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The listening side of SwiftPool: binds the client sockets and runs one set of sessions and one
/// backend pool per event loop.
public final class ProxyServer: Sendable {
    /// How to stop: wait for clients (smart), disconnect them (fast), or just go (immediate).
    public enum ShutdownMode: String, Sendable, CaseIterable {
        case smart, fast, immediate
    }

    private struct LoopState {
        var pool: BackendPool
        var sessions: SessionRegistry
    }

    public let runtime: ProxyRuntime
    private let group: MultiThreadedEventLoopGroup
    private let loops: [EventLoop]
    private let loopStates: [NIOLoopBound<LoopState>]
    private let listeners: NIOLockedValueBox<[Channel]>

    public init(runtime: ProxyRuntime, group: MultiThreadedEventLoopGroup) {
        self.runtime = runtime
        self.group = group
        let loops = Array(group.makeIterator())
        self.loops = loops
        let settings = runtime.settings
        let connector = BackendConnector(credentials: runtime.credentials, connectTimeout: settings.backendConnectTimeout,
                                         maxMessageLength: settings.maxMessageLength) { [runtime] in runtime.backendTLS }
        self.loopStates = loops.enumerated().map { index, loop in
            let state = try! loop.submit {
                NIOLoopBound(LoopState(
                    pool: BackendPool(eventLoop: loop, connector: connector,
                                      capacity: settings.cacheCapacity(perLoopOf: loops.count),
                                      lifeTime: settings.connectionLifeTime, cachingEnabled: settings.connectionCache,
                                      transactionPlaces: runtime.transactionPlaces, loopIndex: index,
                                      loopCount: loops.count, logger: runtime.logger),
                    sessions: SessionRegistry(loopIndex: index, loopCount: loops.count)), eventLoop: loop)
            }.wait()
            return state
        }
        self.listeners = NIOLockedValueBox([])
    }

    /// Binds every listen address and the Unix socket, and starts the pools' timers.
    public func start() async throws {
        for (loop, state) in zip(loops, loopStates) {
            try await loop.submit { state.value.pool.start() }.get()
        }
        let settings = runtime.settings
        var bound: [Channel] = []
        do {
            for host in listenHosts(settings.listenAddresses, any: "::") {
                if host == "::" {
                    // "*": one dual-stack socket for IPv6 and IPv4; IPv4 alone where IPv6 is off.
                    if let channel = try? await bootstrap().bind(host: "::", port: settings.port).get() {
                        bound.append(channel)
                        runtime.logger.info("listening", metadata: ["address": "[::]:\(settings.port)"])
                        continue
                    }
                    bound.append(try await bootstrap().bind(host: "0.0.0.0", port: settings.port).get())
                    runtime.logger.info("listening", metadata: ["address": "0.0.0.0:\(settings.port)"])
                    continue
                }
                bound.append(try await bootstrap().bind(host: host, port: settings.port).get())
                runtime.logger.info("listening", metadata: ["address": "\(host):\(settings.port)"])
            }
            if let directory = settings.socketDirectory, !directory.isEmpty {
                let path = "\(directory)/.s.PGSQL.\(settings.port)"
                bound.append(try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get())
                runtime.logger.info("listening", metadata: ["socket": "\(path)"])
            }
        } catch {
            for channel in bound { try? await channel.close() }
            throw error
        }
        listeners.withLockedValue { $0 = bound }
    }

    /// Sessions currently open, over all loops.
    public func sessionCount() async -> Int {
        var total = 0
        for (loop, state) in zip(loops, loopStates) {
            total += (try? await loop.submit { state.value.sessions.count }.get()) ?? 0
        }
        return total
    }

    /// Sessions, pooled connections and traffic of every loop.
    public func snapshot() async -> ProxySnapshot {
        var result = ProxySnapshot()
        for (loop, state) in zip(loops, loopStates) {
            guard let part = try? await loop.submit({
                (state.value.sessions.snapshot(), state.value.pool.idleCounts, state.value.sessions.traffic,
                 state.value.pool.transactions.counts,
                 state.value.pool.transactions.idleStatementCount + state.value.sessions.heldStatementCount,
                 state.value.pool.classificationCounts)
            }).get() else { continue }
            result.sessions += part.0
            result.idleConnections.merge(part.1, uniquingKeysWith: +)
            result.traffic = result.traffic + part.2
            for (node, counts) in part.3 {
                result.idleConnections[node, default: 0] += counts.idle
                var total = result.transactionPool[node] ?? ProxySnapshot.TransactionPoolNode()
                total.open += counts.open
                total.idle += counts.idle
                total.waiting += counts.waiting
                result.transactionPool[node] = total
            }
            result.preparedStatementsCached += part.4
            result.classifications = result.classifications + part.5
        }
        return result
    }

    /// Tells the sessions that hold a connection to any of `nodes` that they went down (a session
    /// ends unless it can go on without them) and closes the idle connections to them.
    public func endSessions(using nodes: [Int]) {
        let wanted = Set(nodes)
        for (loop, state) in zip(loops, loopStates) {
            loop.execute {
                state.value.sessions.nodesWentDown(wanted)
                for node in wanted { state.value.pool.closeAll(toNode: node) }
            }
        }
    }

    /// Stops accepting clients, ends sessions as `mode` says, and closes the pooled backend
    /// connections (each with a Terminate message, so the backends log a clean disconnect).
    public func shutdown(mode: ShutdownMode) async {
        for channel in listeners.withLockedValue({ channels in defer { channels = [] }; return channels }) { try? await channel.close() }
        switch mode {
        case .smart:
            while await sessionCount() > 0 { try? await Task.sleep(for: .milliseconds(100)) }
        case .fast, .immediate:
            for (loop, state) in zip(loops, loopStates) {
                try? await loop.submit { state.value.sessions.terminateAll() }.get()
            }
        }
        if mode != .immediate {
            // Give sessions that just ended the moment their resets need.
            try? await Task.sleep(for: .milliseconds(200))
        }
        for (loop, state) in zip(loops, loopStates) {
            try? await loop.submit { state.value.pool.closeAll() }.get()
        }
        try? await Task.sleep(for: .milliseconds(50))
    }

    private func bootstrap() -> ServerBootstrap {
        let runtime = self.runtime
        let loops = self.loops
        let loopStates = self.loopStates
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let index = loops.firstIndex(where: { $0 === channel.eventLoop }) else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    let state = loopStates[index].value
                    // One certificate for the handshake and for SCRAM's channel binding.
                    let tls = runtime.clientTLS
                    let handler = ClientSessionHandler(runtime: runtime, pool: state.pool, sessions: state.sessions,
                                                       sessionID: state.sessions.makeSessionID(), clientTLS: tls)
                    let negotiator = ClientTLSNegotiator(tls: tls, statistics: runtime.connections.tls,
                                                         logger: runtime.logger)
                    try channel.pipeline.syncOperations.addHandlers([negotiator, handler])
                }
            }
    }

    /// "*" means every address (IPv6 and IPv4); "localhost" the IPv4 loopback address.
}
