import Routing

/// The nodes a route decision sends to, primary first: one node without an array (the common
/// case, on every dispatch), or the decision's own list.
struct RouteNodes: RandomAccessCollection {
    private let single: Int
    private let list: [Int]?

    init(_ decision: RouteDecision, primary: Int) {
        switch decision {
        case .primary: (single, list) = (primary, nil)
        case .node(let id): (single, list) = (id, nil)
        case .nodes(let nodes): (single, list) = (primary, nodes)
        }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { list?.count ?? 1 }

    subscript(position: Int) -> Int {
        guard let list else {
            precondition(position == 0, "index out of range")
            return single
        }
        return list[position]
    }
}
