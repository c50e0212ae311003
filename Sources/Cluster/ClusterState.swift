import NIOConcurrencyHelpers
import Synchronization

/// The one owner of what SwiftPool believes about its backends. Checkers and operators change it;
/// sessions read cheap immutable snapshots.
public final class ClusterState: Sendable {
    /// An immutable view of every node.
    public struct Snapshot: Sendable, Equatable {
        public var nodes: [NodeInfo]
        /// The node that is not in recovery, if known.
        public var primaryNodeID: Int?

        public var primary: NodeInfo? { primaryNodeID.flatMap { id in nodes.first { $0.id == id } } }
    }

    private let state: NIOLockedValueBox<Snapshot>
    private let changes = Synchronization.Atomic<Int>(0)

    /// Bumped by every change, so that readers can keep derived data until it moves.
    public var generation: Int { changes.load(ordering: .acquiring) }

    public init(nodes: [NodeInfo]) {
        state = NIOLockedValueBox(Snapshot(nodes: nodes, primaryNodeID: nil))
    }

    public var snapshot: Snapshot { state.withLockedValue { $0 } }

    /// Records the roles found by a primary search: exactly `primaryID` is primary (or none).
    public func setPrimary(_ primaryID: Int?) {
        state.withLockedValue { snapshot in
            snapshot.primaryNodeID = primaryID
            for index in snapshot.nodes.indices {
                snapshot.nodes[index].role = snapshot.nodes[index].id == primaryID ? .primary : .standby
            }
        }
        changes.wrappingAdd(1, ordering: .releasing)
    }

    public func setStatus(_ status: NodeStatus, of nodeID: Int) {
        state.withLockedValue { snapshot in
            if let index = snapshot.nodes.firstIndex(where: { $0.id == nodeID }) {
                snapshot.nodes[index].status = status
            }
        }
        changes.wrappingAdd(1, ordering: .releasing)
    }

    /// Replaces the node list (reload), keeping what is known about nodes that stay the same.
    public func replaceNodes(_ nodes: [NodeInfo]) {
        state.withLockedValue { snapshot in
            snapshot.nodes = nodes.map { node in
                guard let old = snapshot.nodes.first(where: { $0.id == node.id && $0.host == node.host && $0.port == node.port }) else {
                    return node
                }
                var kept = node
                kept.role = old.role
                kept.status = old.status
                return kept
            }
            if let primary = snapshot.primaryNodeID, !snapshot.nodes.contains(where: { $0.id == primary }) {
                snapshot.primaryNodeID = nil
            }
        }
        changes.wrappingAdd(1, ordering: .releasing)
    }
}
