/// Who holds the places of `transaction_pool_size` on each node, over the event loops. Pure: the
/// caller (``TransactionPoolPlaces``) runs it under a lock and tells the loops what it decides.
///
/// A loop's transaction pool holds one place per connection it has open, lent or being opened.
/// It takes a free place when a lease would otherwise wait (beyond its share, the capacity over
/// the loops, only once a lease has waited a while), and gives a place back when a connection
/// closes and no waiter of its own needs the place. With no place free, a loop whose leases keep
/// waiting is *wanting*: the place another loop gives back goes to the loop that has wanted
/// longest, loops with idle connections are asked to close them, and each loop's sweep (once a
/// second) gives up the places it holds above a fair share while another loop wants.
struct PlaceLedger {
    private struct Node {
        /// Places held, by loop.
        var held: [Int]
        /// Places a loop has promised to give back (its connections close as they come back).
        var pledged: [Int]
        /// By loop: when it began to want a place (an order number), or nil.
        var wanting: [UInt64?]
        /// By loop: how many leases waited when it said it wants.
        var wanted: [Int]

        /// Makes room for `loop` (loops are counted as they come).
        mutating func fit(_ loop: Int) {
            guard loop >= held.count else { return }
            let more = loop - held.count + 1
            held += repeatElement(0, count: more)
            pledged += repeatElement(0, count: more)
            wanting += repeatElement(nil, count: more)
            wanted += repeatElement(0, count: more)
        }

        var heldTotal: Int { held.reduce(0, +) }
        var pledgedTotal: Int { pledged.reduce(0, +) }
    }

    /// `transaction_pool_size`: places per node, over all loops.
    private(set) var capacity: Int
    /// How many loops share the places.
    var loops = 1
    /// The places a loop takes without waiting first: the capacity over the loops, rounded up.
    var share: Int { max(1, (capacity + loops - 1) / max(1, loops)) }
    private var nodes: [Node?] = []
    private var nextOrder: UInt64 = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Places of `node` no loop holds.
    func free(node id: Int) -> Int {
        guard id < nodes.count, let node = nodes[id] else { return capacity }
        return max(0, capacity - node.heldTotal)
    }

    /// Whether some loop wants a place on `node`.
    func isWanted(node id: Int) -> Bool {
        guard id < nodes.count, let node = nodes[id] else { return false }
        return node.wanting.contains { $0 != nil }
    }

    /// Places `loop` holds on `node`.
    func held(node id: Int, loop: Int) -> Int {
        guard id < nodes.count, let node = nodes[id], loop < node.held.count else { return 0 }
        return node.held[loop]
    }

    /// Takes a free place for `loop`, if there is one (and, unless `beyondShare`, if `loop` holds
    /// less than its share).
    mutating func acquire(node id: Int, loop: Int, beyondShare: Bool) -> Bool {
        withNode(id, loop: loop) { ledger, node in
            guard node.heldTotal < ledger.capacity, beyondShare || node.held[loop] < ledger.share else { return false }
            node.held[loop] += 1
            return true
        }
    }

    /// `loop` gives back `count` places. Returns the loops that get a place now, one entry per
    /// place, longest wanting first (another loop than the one giving back).
    mutating func release(node id: Int, loop: Int, count: Int) -> [Int] {
        withNode(id, loop: loop) { ledger, node in
            let released = min(count, node.held[loop])
            node.held[loop] -= released
            node.pledged[loop] = max(0, node.pledged[loop] - released)
            return ledger.grantFree(&node, except: loop)
        }
    }

    /// `loop` has `waiting` leases and found no place free: it wants places. Returns the loops
    /// that get a place now (one freed since `loop` looked), or else the other loops that hold
    /// places on `node`, to be asked to close idle connections.
    mutating func want(node id: Int, loop: Int, waiting: Int) -> (granted: [Int], holders: [Int]) {
        withNode(id, loop: loop) { ledger, node in
            if node.wanting[loop] == nil {
                ledger.nextOrder &+= 1
                node.wanting[loop] = ledger.nextOrder
            }
            node.wanted[loop] = max(1, waiting)
            let granted = ledger.grantFree(&node, except: nil)
            guard granted.isEmpty else { return (granted, []) }
            return ([], node.held.indices.filter { $0 != loop && node.held[$0] > node.pledged[$0] })
        }
    }

    /// How many places the loops other than `loop` want on `node`, less those already promised.
    func wantedElsewhere(node id: Int, loop: Int) -> Int {
        guard id < nodes.count, let node = nodes[id] else { return 0 }
        let wanted = node.wanted.indices.filter { $0 != loop && node.wanting[$0] != nil }.map { node.wanted[$0] }.reduce(0, +)
        return max(0, wanted - node.pledgedTotal)
    }

    /// `loop` has no lease waiting for `node` any more.
    mutating func satisfied(node id: Int, loop: Int) {
        guard id < nodes.count, let node = nodes[id], loop < node.wanting.count else { return }
        nodes[id]!.wanting[loop] = nil
    }

    /// How many places `loop` should give up on `node` now (its sweep), which counts them as
    /// promised: what the node holds beyond the capacity (a reload lowered it), or, while another
    /// loop wants, what `loop` holds above a fair share (the capacity over the loops that hold
    /// or want places) up to what the wanting loops lack of theirs. A wanting loop that holds
    /// nothing lacks at least one, so that a capacity below the number of loops still moves
    /// between them.
    mutating func giveUp(node id: Int, loop: Int) -> Int {
        withNode(id, loop: loop) { ledger, node in
            let own = node.held[loop] - node.pledged[loop]
            guard own > 0 else { return 0 }
            let keeping = node.heldTotal - node.pledgedTotal
            var count = 0
            if keeping > ledger.capacity {
                count = min(own, keeping - ledger.capacity)
            } else {
                let active = node.held.indices.filter { node.held[$0] > node.pledged[$0] || node.wanting[$0] != nil }.count
                let fair = ledger.capacity / max(1, active)
                var lacking = 0
                for other in node.held.indices where other != loop && node.wanting[other] != nil {
                    let has = node.held[other] - node.pledged[other]
                    lacking += max(fair - has, has == 0 ? 1 : 0)
                }
                // Places already promised by others go to the wanting loops first.
                lacking -= node.pledgedTotal - node.pledged[loop]
                count = max(0, min(own - fair, lacking))
            }
            node.pledged[loop] += count
            return count
        }
    }

    /// A new capacity (a reload). Returns, per node, the loops that get a place now (a higher
    /// capacity frees places for wanting loops); a lower one is given back through ``giveUp``.
    mutating func setCapacity(_ newCapacity: Int) -> [(node: Int, loop: Int)] {
        capacity = max(1, newCapacity)
        var grants: [(node: Int, loop: Int)] = []
        for id in nodes.indices where nodes[id] != nil {
            grants += withNode(id, loop: 0) { ledger, node in ledger.grantFree(&node, except: nil) }.map { (id, $0) }
        }
        return grants
    }

    /// Free places go to the wanting loops, longest wanting first, one each in turn; a loop that
    /// got one goes to the back of the line (it still wants until it says otherwise).
    private mutating func grantFree(_ node: inout Node, except giver: Int?) -> [Int] {
        var grants: [Int] = []
        while node.heldTotal < capacity {
            let candidates = node.wanting.indices.filter { $0 != giver && node.wanting[$0] != nil }
            guard let first = candidates.min(by: { node.wanting[$0]! < node.wanting[$1]! }) else { break }
            node.held[first] += 1
            nextOrder &+= 1
            node.wanting[first] = nextOrder
            grants.append(first)
        }
        return grants
    }

    /// Runs `body` on a node taken out of the list (a new one for a node seen first), with room
    /// for `loop`.
    private mutating func withNode<Result>(_ id: Int, loop: Int, _ body: (inout Self, inout Node) -> Result) -> Result {
        if id >= nodes.count { nodes.append(contentsOf: repeatElement(nil, count: id - nodes.count + 1)) }
        var node = nodes[id].take() ?? Node(held: [], pledged: [], wanting: [], wanted: [])
        node.fit(loop)
        let result = body(&self, &node)
        nodes[id] = node
        return result
    }
}
