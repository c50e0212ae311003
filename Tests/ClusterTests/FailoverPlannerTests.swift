import Configuration
import Testing

@testable import Cluster

@Suite struct FailoverPlannerTests {
    static func snapshot(primary: Int? = 0, down: Set<Int> = [], flags: [Int: BackendFlags] = [:]) -> ClusterState.Snapshot {
        let nodes = (0..<3).map { id in
            NodeInfo(id: id, host: "h\(id)", port: 5432 + id, weight: 1, role: id == primary ? .primary : .standby,
                     status: down.contains(id) ? .down : .up, dataDirectory: "/data/\(id)", flags: flags[id] ?? BackendFlags())
        }
        return ClusterState.Snapshot(nodes: nodes, primaryNodeID: primary)
    }

    @Test func standbyFailureKeepsThePrimary() throws {
        let plan = try FailoverPlanner.down([2], reason: .healthCheck, snapshot: Self.snapshot()).get()
        #expect(plan.nodes == [2])
        #expect(!plan.searchPrimary)
        #expect(plan.commands.count == 1)
        #expect(plan.commands[0].expand("%d %h %p %D %m %H %r %R %M %P %N %S %%") == "2 h2 5434 /data/2 0 h0 5432 /data/0 0 0 h0 5432 %")
    }

    @Test func primaryFailureSearchesAndNamesTheLowestLiveNodeAsNewMain() throws {
        let plan = try FailoverPlanner.down([0], reason: .healthCheck, snapshot: Self.snapshot()).get()
        #expect(plan.searchPrimary)
        #expect(plan.oldPrimaryID == 0)
        #expect(plan.commands[0].expand("%d %m %H %r %M %P") == "0 1 h1 5433 0 0")
    }

    @Test func switchoverNamesTheRequestedNode() throws {
        let plan = try FailoverPlanner.down([0], reason: .switchover, snapshot: Self.snapshot(), newMain: 2).get()
        #expect(plan.commands[0].expand("%m %R") == "2 /data/2")
    }

    @Test func refusals() {
        #expect(FailoverPlanner.down([7], reason: .detach, snapshot: Self.snapshot()) == .failure(.noSuchNode(7)))
        #expect(FailoverPlanner.down([1], reason: .detach, snapshot: Self.snapshot(down: [1])) == .failure(.alreadyDown(1)))
        #expect(FailoverPlanner.down([2], reason: .detach, snapshot: Self.snapshot(down: [0, 1])) == .failure(.lastUsableNode(2)))
        let disallowed = Self.snapshot(flags: [1: BackendFlags(allowToFailover: false)])
        #expect(FailoverPlanner.down([1], reason: .healthCheck, snapshot: disallowed) == .failure(.failoverDisallowed(1)))
        // An operator may still detach it.
        #expect((try? FailoverPlanner.down([1], reason: .detach, snapshot: disallowed).get())?.nodes == [1])
        #expect(FailoverPlanner.attach(1, snapshot: Self.snapshot()) == .failure(.alreadyUp(1)))
        #expect(FailoverPlanner.promote(0, snapshot: Self.snapshot()).map(\.id) == .failure(.alreadyPrimary(0)))
        #expect(FailoverPlanner.promote(1, snapshot: Self.snapshot(down: [1])).map(\.id) == .failure(.notUsable(1)))
    }

    @Test func followersAreEveryOtherConfiguredNode() {
        let after = Self.snapshot(primary: 1, down: [0])
        let followers = FailoverPlanner.followers(of: 1, oldPrimary: Self.snapshot().node(0), snapshot: after)
        #expect(followers.map(\.node.id) == [0, 2])
        #expect(followers[1].expand("%d %m %H %r %M %P %N %S") == "2 1 h1 5433 0 0 h0 5432")
        #expect(FailoverPlanner.followers(of: 0, oldPrimary: Self.snapshot().node(0), snapshot: Self.snapshot()).isEmpty)
        #expect(FailoverPlanner.followers(of: nil, oldPrimary: nil, snapshot: after).isEmpty)
    }

    @Test func attachNamesTheMainNode() throws {
        let placeholders = try FailoverPlanner.attach(0, snapshot: Self.snapshot(primary: 1, down: [0])).get()
        #expect(placeholders.expand("%d %m %M %P") == "0 0 1 1")
    }

    @Test func placeholderEdgeCases() {
        let node = NodeInfo(id: 3, host: "h", port: 1, weight: 1)
        let placeholders = FailoverPlaceholders(node: node, newMain: nil, oldMainID: nil, oldPrimary: nil)
        #expect(placeholders.expand("a%xb %m %H| %P %N|%") == "ab -1 | -1 |")
    }
}
