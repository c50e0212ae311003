import AdminHTTP
import Cluster
import Foundation
import NIOCore
import NIOPosix
import PCP
import Proxy
import ServiceLifecycle
import Watchdog

/// A long-running component as the service group sees it. `ProxyMain` starts the components one
/// after the other, in the order of its list; the group then runs them until it shuts down
/// gracefully and stops them in reverse order. A component that could not start ends the
/// start-up, and the group stops the ones already started the same way.
struct Component: Service, CustomStringConvertible {
    let description: String
    /// Binds, joins or launches; throws a `StartupError` that says what failed.
    let start: @Sendable () async throws -> Void
    /// Undoes `start` (called only for a component that started).
    let stop: @Sendable () async -> Void

    func run() async {
        // The group ends its services by graceful shutdown; cancellation stops the component too.
        try? await gracefulShutdown()
        await stop()
    }
}

extension Component {
    /// The data path's threads, shut down after everything that uses them.
    static func eventLoops(_ group: MultiThreadedEventLoopGroup) -> Component {
        Component(description: "event loops", start: {}, stop: { try? await group.shutdownGracefully() })
    }

    /// The client listeners; stopping ends the sessions as the shutdown signal asked (smart waits
    /// for the clients, fast ends them, immediate just goes) and closes the pooled connections.
    static func proxy(_ server: ProxyServer, port: Int, shutdown: ShutdownRequest) -> Component {
        Component(
            description: "proxy server",
            start: {
                do {
                    try await server.start()
                } catch {
                    throw StartupError("cannot listen on port \(port): \(error)")
                }
            },
            stop: { await server.shutdown(mode: shutdown.mode) })
    }

    /// The health check and streaming-replication check loops (a reload restarts them), and the
    /// background primary search when start-up found none.
    static func checkers(health: HealthChecker, targets: [HealthChecker.Target], replication: ReplicationChecker,
                         settings: ReplicationChecker.Settings, wal: WALPositionTracker, walSettings: WALPositionTracker.Settings,
                         searchPrimary: (@Sendable () async -> Void)?) -> Component {
        Component(
            description: "health and replication checks",
            start: {
                health.start(targets)
                replication.start(settings)
                wal.start(walSettings)
                if let searchPrimary { Task { await searchPrimary() } }
            },
            stop: {
                health.stop()
                replication.stop()
                wal.stop()
            })
    }

    /// The fleet member (the watchdog, or the etcd back end): from its start the failover
    /// coordinator asks it before every backend change. Stopping leaves the fleet cleanly (the
    /// virtual IP is released when held, the other members learn it).
    static func coordination(_ member: any CoordinationMember, coordinator: FailoverCoordinator, description: String,
                             failure: String) -> Component {
        Component(
            description: description,
            start: {
                await coordinator.coordinate(with: member)
                do {
                    try await member.start()
                } catch {
                    throw StartupError("\(failure): \(error)")
                }
            },
            stop: { await member.stop() })
    }

    /// The HTTP admin server. Stopping does not wait: an admin call may still wait for a failover
    /// command.
    static func http(_ server: HTTPServer, addresses: [String], port: Int, tls: TLSPEM?) -> Component {
        Component(
            description: "HTTP server",
            start: {
                do {
                    try server.start(addresses: addresses, port: port, tls: tls.map { (key: $0.key, certificate: $0.certificate) })
                } catch {
                    throw StartupError("cannot start the HTTP server: \(error)")
                }
            },
            stop: { Thread.detachNewThread { server.stop() } })
    }

    /// The PCP port.
    static func pcp(_ server: PCPServer, addresses: [String], port: Int, socketDirectory: String) -> Component {
        Component(
            description: "PCP server",
            start: {
                do {
                    try await server.start(addresses: addresses, port: port, socketDirectory: socketDirectory)
                } catch {
                    throw StartupError("cannot listen on PCP port \(port): \(error)")
                }
            },
            stop: { await server.stop() })
    }
}
