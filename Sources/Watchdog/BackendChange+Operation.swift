import Cluster

extension BackendChangeRequest {
    /// The request a member sends its leader for an operation asked on it.
    public init(_ operation: BackendOperation, confirmed: Bool) {
        switch operation {
        case .detach(let ids, let reason, let immediate):
            self.init(kind: .down, nodes: ids, confirmed: confirmed, reason: reason.rawValue, immediate: immediate)
        case .attach(let id):
            self.init(kind: .up, nodes: [id], confirmed: confirmed, reason: "attach")
        case .promote(let id, let switchover):
            self.init(kind: .promote, nodes: [id], confirmed: confirmed, reason: "promote", switchover: switchover)
        }
    }

    /// The operation the leader carries out for it.
    public var operation: BackendOperation {
        switch kind {
        case .down: .detach(nodes, reason: FailoverReason(rawValue: reason) ?? .detach, immediate: immediate)
        case .up: .attach(nodes.first ?? -1)
        case .promote: .promote(nodes.first ?? -1, switchover: switchover)
        }
    }
}

extension BackendView {
    /// What the leader tells the others: quarantine is local and counts as in service.
    public init(_ snapshot: ClusterState.Snapshot) {
        self.init(
            down: snapshot.nodes.filter { $0.status == .down }.map(\.id),
            up: snapshot.nodes.filter { $0.status.isUsable || $0.status == .quarantine }.map(\.id),
            primary: snapshot.primaryNodeID)
    }
}
