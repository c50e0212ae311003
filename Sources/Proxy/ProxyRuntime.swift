import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Everything the sessions of all event loops share. Settings and policies can be swapped on
/// reload; a session reads them once, when it starts.
public final class ProxyRuntime: Sendable {
    public let credentials: CredentialStore
    public let admission: ClientAdmission
    public let cancelRegistry = CancelRegistry()
    public let logger: Logger
    private let mutable: NIOLockedValueBox<Mutable>

    private struct Mutable {
        var settings: ProxySettings
        var authPolicy: ClientAuthPolicy?
        var primaryNode: @Sendable () -> BackendNode?
    }

    /// - Parameters:
    ///   - authPolicy: pool_hba.conf's verdicts, or nil to ask clients for what the backend asks.
    ///   - primaryNode: where sessions are served (the node the cluster state calls primary).
    public init(settings: ProxySettings, credentials: CredentialStore, authPolicy: ClientAuthPolicy?,
                logger: Logger, primaryNode: @escaping @Sendable () -> BackendNode?) {
        self.credentials = credentials
        self.admission = ClientAdmission(capacity: settings.numInitChildren, reserved: settings.reservedConnections)
        self.logger = logger
        self.mutable = NIOLockedValueBox(Mutable(settings: settings, authPolicy: authPolicy, primaryNode: primaryNode))
    }

    public var settings: ProxySettings { mutable.withLockedValue { $0.settings } }
    public var authPolicy: ClientAuthPolicy? { mutable.withLockedValue { $0.authPolicy } }

    public func primaryNode() -> BackendNode? {
        mutable.withLockedValue { $0.primaryNode }()
    }

    /// Applies reloaded settings and policies to new sessions.
    public func update(settings: ProxySettings, authPolicy: ClientAuthPolicy?) {
        mutable.withLockedValue {
            $0.settings = settings
            $0.authPolicy = authPolicy
        }
        admission.resize(capacity: settings.numInitChildren, reserved: settings.reservedConnections)
    }
}
