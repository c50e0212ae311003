import Foundation
import NIOConcurrencyHelpers
import Synchronization

/// The one owner of what SwiftPool believes about its backends. Checkers and the failover
/// coordinator change it; sessions read cheap immutable snapshots.
public final class ClusterState: Sendable {
    /// An immutable view of every node.
    public struct Snapshot: Sendable, Equatable {
        public var nodes: [NodeInfo]
        /// The node that is not in recovery, if known.
        public var primaryNodeID: Int?

        public init(nodes: [NodeInfo], primaryNodeID: Int?) {
            self.nodes = nodes
            self.primaryNodeID = primaryNodeID
        }

        public var primary: NodeInfo? { primaryNodeID.flatMap { node($0) } }

        public func node(_ id: Int) -> NodeInfo? { nodes.first { $0.id == id } }

        /// Pgpool-II's main node: the lowest id among the usable nodes.
        public var mainNodeID: Int? { nodes.filter(\.status.isUsable).map(\.id).min() }
    }

    /// Closed while a failover replaces the primary (see ``PrimaryGate``).
    public let primaryGate = PrimaryGate()
    private let state: NIOLockedValueBox<Snapshot>
    private let changes = Synchronization.Atomic<Int>(0)
    private let statusObservers = NIOLockedValueBox<[@Sendable (Snapshot) -> Void]>([])

    /// Bumped by every change that matters to routing, so that readers can keep derived data
    /// until it moves.
    public var generation: Int { changes.load(ordering: .acquiring) }

    /// Nodes without a status-change time get the current time (the start of their status).
    public init(nodes: [NodeInfo]) {
        let now = Date().timeIntervalSince1970
        state = NIOLockedValueBox(Snapshot(nodes: nodes.map { node in
            var node = node
            if node.lastStatusChange == 0 { node.lastStatusChange = now }
            return node
        }, primaryNodeID: nil))
    }

    public var snapshot: Snapshot { state.withLockedValue { $0 } }

    /// Calls `observer` with the new snapshot after every change of a node's status or of the
    /// primary (for the status file). Observers run on the changing thread, outside the lock.
    public func observeStatus(_ observer: @escaping @Sendable (Snapshot) -> Void) {
        statusObservers.withLockedValue { $0.append(observer) }
    }

    /// Records the roles found by a primary search: exactly `primaryID` is primary (or none).
    public func setPrimary(_ primaryID: Int?) {
        change { snapshot in
            snapshot.primaryNodeID = primaryID
            for index in snapshot.nodes.indices {
                snapshot.nodes[index].role = snapshot.nodes[index].id == primaryID ? .primary : .standby
            }
            return true
        }
    }

    /// Sets a node's status; returns false when it already had it (or does not exist).
    @discardableResult
    public func setStatus(_ status: NodeStatus, of nodeID: Int) -> Bool {
        setStatuses([nodeID: status])
    }

    /// Sets several statuses as one change; returns whether anything changed.
    @discardableResult
    public func setStatuses(_ statuses: [Int: NodeStatus]) -> Bool {
        let now = Date().timeIntervalSince1970
        return change { snapshot in
            var changed = false
            for index in snapshot.nodes.indices {
                guard let status = statuses[snapshot.nodes[index].id], snapshot.nodes[index].status != status else { continue }
                snapshot.nodes[index].status = status
                snapshot.nodes[index].lastStatusChange = now
                changed = true
            }
            return changed
        }
    }

    /// A session started using a waiting node: it is up now (no observer call, no generation
    /// bump: routing treats both alike).
    public func markUsed(_ nodeID: Int) {
        state.withLockedValue { snapshot in
            if let index = snapshot.nodes.firstIndex(where: { $0.id == nodeID }), snapshot.nodes[index].status == .waiting {
                snapshot.nodes[index].status = .up
            }
        }
    }

    /// Stores what the replication check found; routing hears of it only when a node crosses
    /// the delay threshold.
    public func updateReplication(_ findings: [Int: ReplicationInfo], lagging: Set<Int>) {
        let crossed = state.withLockedValue { snapshot in
            var crossed = false
            for index in snapshot.nodes.indices {
                let id = snapshot.nodes[index].id
                if let info = findings[id] { snapshot.nodes[index].replication = info }
                if snapshot.nodes[index].isLagging != lagging.contains(id) {
                    snapshot.nodes[index].isLagging = lagging.contains(id)
                    crossed = true
                }
            }
            return crossed
        }
        if crossed { changes.wrappingAdd(1, ordering: .releasing) }
    }

    /// Replaces the node list (reload), keeping what is known about nodes that stay the same.
    public func replaceNodes(_ nodes: [NodeInfo]) {
        change { snapshot in
            snapshot.nodes = nodes.map { node in
                guard let old = snapshot.nodes.first(where: { $0.id == node.id && $0.host == node.host && $0.port == node.port }) else {
                    return node
                }
                var kept = node
                kept.role = old.role
                kept.status = old.status
                kept.lastStatusChange = old.lastStatusChange
                kept.replication = old.replication
                kept.isLagging = old.isLagging
                return kept
            }
            if let primary = snapshot.primaryNodeID, !snapshot.nodes.contains(where: { $0.id == primary }) {
                snapshot.primaryNodeID = nil
            }
            return true
        }
    }

    private func change(_ body: (inout Snapshot) -> Bool) -> Bool {
        let (changed, after) = state.withLockedValue { snapshot in (body(&snapshot), snapshot) }
        guard changed else { return false }
        changes.wrappingAdd(1, ordering: .releasing)
        for observer in statusObservers.withLockedValue({ $0 }) { observer(after) }
        return true
    }
}
