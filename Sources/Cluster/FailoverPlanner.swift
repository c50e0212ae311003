/// Why a node was taken out of service.
public enum FailoverReason: String, Sendable, CaseIterable {
    /// Every health-check try failed.
    case healthCheck = "health_check"
    /// A session's backend socket failed (`failover_on_backend_error`).
    case backendError = "backend_error"
    /// The backend said 57P01/57P02 before closing (`failover_on_backend_shutdown`).
    case backendShutdown = "backend_shutdown"
    /// An operator detached the node.
    case detach
    /// A primary that the standbys do not follow (`detach_false_primary`).
    case falsePrimary = "false_primary"
    /// An operator switched the primary over to another node.
    case switchover
    /// The node follows a new primary (`follow_primary_command`).
    case followPrimary = "follow_primary"

    /// Whether the request comes from SwiftPool's own observations (and so honours
    /// `DISALLOW_TO_FAILOVER`) rather than from an operator.
    public var isAutomatic: Bool {
        switch self {
        case .healthCheck, .backendError, .backendShutdown, .falsePrimary: true
        case .detach, .switchover, .followPrimary: false
        }
    }
}

/// Why a node operation was not carried out.
public enum NodeOperationRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchNode(Int)
    /// `backend_flagN = DISALLOW_TO_FAILOVER`.
    case failoverDisallowed(Int)
    /// Taking the node out would leave no usable node.
    case lastUsableNode(Int)
    case alreadyDown(Int)
    case alreadyUp(Int)
    case notUsable(Int)
    case alreadyPrimary(Int)
    /// A switchover needs failover_command to promote the new primary.
    case noFailoverCommand
    /// The fleet's leader (watchdog or etcd) refused the operation (its reason).
    case refusedByLeader(String)
    /// The fleet has no leader to decide (an election is running, etcd does not answer) or the
    /// leader did not answer.
    case noCoordinator(String)

    public var description: String {
        switch self {
        case .noSuchNode(let id): "backend node \(id) does not exist"
        case .failoverDisallowed(let id): "backend node \(id) has DISALLOW_TO_FAILOVER set"
        case .lastUsableNode(let id): "backend node \(id) is the last usable node"
        case .alreadyDown(let id): "backend node \(id) is already down"
        case .alreadyUp(let id): "backend node \(id) is already attached"
        case .notUsable(let id): "backend node \(id) is not up"
        case .alreadyPrimary(let id): "backend node \(id) is already the primary"
        case .noFailoverCommand: "a switchover needs failover_command to promote the new primary"
        case .refusedByLeader(let why): "the fleet's leader refused: \(why)"
        case .noCoordinator(let why): why
        }
    }
}

/// The decisions of a failover, failback or switchover, made from a snapshot of the cluster.
/// Pure: the coordinator carries them out.
public enum FailoverPlanner {
    /// Taking nodes out of service.
    public struct DownPlan: Sendable, Equatable {
        /// The nodes to mark down, in id order.
        public var nodes: [Int]
        /// One `failover_command` per node that goes down.
        public var commands: [FailoverPlaceholders]
        /// The primary went down (or was never known): search for one afterwards.
        public var searchPrimary: Bool
        /// The primary before the change.
        public var oldPrimaryID: Int?
    }

    /// Plans taking `ids` out of service for `reason`. `newMain` overrides the node the
    /// failover command is told to promote (`%m`, for a switchover).
    public static func down(
        _ ids: [Int], reason: FailoverReason, snapshot: ClusterState.Snapshot, newMain requested: Int? = nil
    ) -> Result<DownPlan, NodeOperationRefusal> {
        var going: [NodeInfo] = []
        for id in Set(ids).sorted() {
            guard let node = snapshot.node(id) else { return .failure(.noSuchNode(id)) }
            // A node quarantined here can still be failed over once the cluster agrees.
            guard node.status.isUsable || node.status == .quarantine else {
                if ids.count == 1 { return .failure(.alreadyDown(id)) }
                continue
            }
            if reason.isAutomatic, !node.flags.allowToFailover { return .failure(.failoverDisallowed(id)) }
            going.append(node)
        }
        let goingIDs = Set(going.map(\.id))
        let remaining = snapshot.nodes.filter { $0.status.isUsable && !goingIDs.contains($0.id) }
        if remaining.isEmpty, let first = going.first { return .failure(.lastUsableNode(first.id)) }
        let newMain = requested.flatMap { snapshot.node($0) } ?? remaining.min { $0.id < $1.id }
        let commands = going.map {
            FailoverPlaceholders(node: $0, newMain: newMain, oldMainID: snapshot.mainNodeID, oldPrimary: snapshot.primary)
        }
        let primaryLost = snapshot.primaryNodeID.map(goingIDs.contains) ?? true
        return .success(DownPlan(nodes: going.map(\.id), commands: commands, searchPrimary: primaryLost,
                                 oldPrimaryID: snapshot.primaryNodeID))
    }

    /// After a primary search: the nodes that must follow `newPrimary` (every other node that is
    /// still usable or was just taken down), or none when the primary did not change.
    public static func followers(
        of newPrimary: Int?, oldPrimary: NodeInfo?, snapshot: ClusterState.Snapshot
    ) -> [FailoverPlaceholders] {
        guard let newPrimary, newPrimary != oldPrimary?.id, let primaryNode = snapshot.node(newPrimary) else { return [] }
        return snapshot.nodes
            .filter { $0.id != newPrimary && $0.status != .unused }
            .map { FailoverPlaceholders(node: $0, newMain: primaryNode, oldMainID: oldPrimary?.id, oldPrimary: oldPrimary) }
    }

    /// Plans bringing a down node back (`failback_command`'s placeholders).
    public static func attach(_ id: Int, snapshot: ClusterState.Snapshot) -> Result<FailoverPlaceholders, NodeOperationRefusal> {
        guard let node = snapshot.node(id) else { return .failure(.noSuchNode(id)) }
        guard !node.status.isUsable else { return .failure(.alreadyUp(id)) }
        let newMain = min(snapshot.mainNodeID ?? id, id)
        return .success(FailoverPlaceholders(node: node, newMain: snapshot.node(newMain), oldMainID: snapshot.mainNodeID,
                                             oldPrimary: snapshot.primary))
    }

    /// Checks that `id` can become the primary.
    public static func promote(_ id: Int, snapshot: ClusterState.Snapshot) -> Result<NodeInfo, NodeOperationRefusal> {
        guard let node = snapshot.node(id) else { return .failure(.noSuchNode(id)) }
        guard node.status.isUsable else { return .failure(.notUsable(id)) }
        guard snapshot.primaryNodeID != id else { return .failure(.alreadyPrimary(id)) }
        return .success(node)
    }
}
