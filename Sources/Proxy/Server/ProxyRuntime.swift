import Cluster
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Routing
import Synchronization

/// Everything the sessions of all event loops share. Settings and policies can be swapped on
/// reload; a session reads them once, when it starts.
public final class ProxyRuntime: Sendable {
    public let credentials: CredentialStore
    public let admission: ClientAdmission
    public let cancelRegistry = CancelRegistry()
    public let logger: Logger
    /// The nodes, their roles, weights and status (for choosing load-balance nodes).
    public let cluster: ClusterState
    public let catalog: CatalogFactsCache
    /// read_your_writes: the primary's WAL samples and the standbys' replay positions.
    public let walPositions = WALPositions()
    /// Statements and errors per node, for metrics and SHOW commands.
    public let statistics = QueryStatistics()
    /// Clients accepted and refused, slot waits.
    public let connections = ConnectionStatistics()
    /// Transaction mode: leases, waits, pins, replays.
    public let transactionPool = TransactionPoolStatistics()
    /// Transaction mode: the places of `transaction_pool_size` on each node, shared by every
    /// event loop's pool.
    let transactionPlaces: TransactionPoolPlaces
    /// Tells the failover coordinator that a session lost its connection to a node (the flag:
    /// after the backend announced a shutdown, 57P01/57P02) or could not reach it.
    public let backendLost: @Sendable (_ node: Int, _ afterShutdownMessage: Bool) -> Void
    /// SHOW POOL_* and PGPOOL SHOW/SET/RESET; nil passes them to the backends.
    public let adminCommands: AdminCommandService?
    private let mutable: NIOLockedValueBox<Mutable>
    private let generation = Atomic<Int>(0)

    private struct Mutable {
        var settings: ProxySettings
        var authPolicy: ClientAuthPolicy?
        var routing: RoutingConfiguration?
        var primaryNode: @Sendable () -> BackendNode?
        var clientTLS: ClientTLS?
        var backendTLS: BackendTLS?
    }

    /// - Parameters:
    ///   - authPolicy: pool_hba.conf's verdicts, or nil to ask clients for what the backend asks.
    ///   - primaryNode: where sessions are served (the node the cluster state calls primary).
    ///   - routing: read/write splitting, or nil to serve every session from the primary only.
    ///   - clientTLS: the certificate presented to clients, or nil when `ssl` is off.
    ///   - backendTLS: TLS to the nodes, or nil for none.
    public init(settings: ProxySettings, credentials: CredentialStore, authPolicy: ClientAuthPolicy?,
                routing: RoutingConfiguration?, cluster: ClusterState, catalog: CatalogFactsCache,
                logger: Logger, primaryNode: @escaping @Sendable () -> BackendNode?,
                backendLost: @escaping @Sendable (Int, Bool) -> Void = { _, _ in },
                adminCommands: AdminCommandService? = nil, clientTLS: ClientTLS? = nil,
                backendTLS: BackendTLS? = nil) {
        self.backendLost = backendLost
        self.adminCommands = adminCommands
        self.credentials = credentials
        self.admission = ClientAdmission(capacity: settings.numInitChildren, reserved: settings.reservedConnections)
        self.transactionPlaces = TransactionPoolPlaces(capacity: settings.transactionPoolSize, statistics: transactionPool)
        self.logger = logger
        self.cluster = cluster
        self.catalog = catalog
        self.mutable = NIOLockedValueBox(Mutable(settings: settings, authPolicy: authPolicy, routing: routing, primaryNode: primaryNode,
                                                 clientTLS: clientTLS, backendTLS: backendTLS))
    }

    public var routing: RoutingConfiguration? { mutable.withLockedValue { $0.routing } }

    public var settings: ProxySettings { mutable.withLockedValue { $0.settings } }
    /// Changes with every reload: a cheap check before copying ``settings`` on a hot path.
    public var settingsGeneration: Int { generation.load(ordering: .acquiring) }
    public var authPolicy: ClientAuthPolicy? { mutable.withLockedValue { $0.authPolicy } }
    /// The certificate new client connections are offered; nil when `ssl` is off.
    public var clientTLS: ClientTLS? { mutable.withLockedValue { $0.clientTLS } }

    /// Offers `tls` to new client connections (those already encrypted keep theirs).
    public func update(clientTLS tls: ClientTLS?) {
        mutable.withLockedValue { $0.clientTLS = tls }
    }

    /// TLS to the nodes (`backend_sslmode`) for connections opened from now on; nil for none.
    public var backendTLS: BackendTLS? { mutable.withLockedValue { $0.backendTLS } }

    /// Uses `tls` for backend connections opened from now on (a reloaded CA).
    public func update(backendTLS tls: BackendTLS?) {
        mutable.withLockedValue { $0.backendTLS = tls }
    }

    public func primaryNode() -> BackendNode? {
        mutable.withLockedValue { $0.primaryNode }()
    }

    /// Applies reloaded settings and policies to new sessions.
    public func update(settings: ProxySettings, authPolicy: ClientAuthPolicy?, routing: RoutingConfiguration?) {
        mutable.withLockedValue {
            $0.settings = settings
            $0.authPolicy = authPolicy
            $0.routing = routing
        }
        generation.add(1, ordering: .releasing)
        admission.resize(capacity: settings.numInitChildren, reserved: settings.reservedConnections)
        transactionPlaces.setCapacity(settings.transactionPoolSize)
    }
}

/// Read/write splitting as configured: the policy's settings and how to pick a session's
/// load-balance node.
public struct RoutingConfiguration: Sendable {
    public var settings: RoutingSettings
    public var selector: LoadBalanceSelector

    public init(settings: RoutingSettings, selector: LoadBalanceSelector) {
        self.settings = settings
        self.selector = selector
    }
}
