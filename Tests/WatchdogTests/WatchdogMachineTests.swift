import Testing
@testable import Watchdog

/// A small cluster of machines wired to each other by hand: every action that sends is delivered
/// at once, unless the link is cut.
struct Harness {
    var machines: [String: WatchdogMachine] = [:]
    var now = 0.0
    var cut: Set<String> = []
    var escalations: [String] = []
    var deEscalations: [String] = []
    var adopted: [String: BackendView] = [:]

    init(_ specs: [(name: String, priority: Int, start: Double)], halfVotes: Bool = false, deadtime: Double = 5) {
        let names = specs.map(\.name)
        for spec in specs {
            machines[spec.name] = WatchdogMachine(settings: .init(
                localName: spec.name, peerNames: names.filter { $0 != spec.name }, priority: spec.priority, startTime: spec.start,
                keepalive: 1, deadtime: deadtime, quorum: QuorumRule(enableConsensusWithHalfVotes: halfVotes)))
        }
    }

    func linked(_ a: String, _ b: String) -> Bool { !cut.contains(a) && !cut.contains(b) }

    mutating func send(_ event: WatchdogMachine.Event, to name: String) {
        guard var machine = machines[name] else { return }
        let actions = machine.handle(event, now: now)
        machines[name] = machine
        perform(actions, from: name)
    }

    mutating func perform(_ actions: [WatchdogMachine.Action], from name: String) {
        guard let machine = machines[name] else { return }
        let others = machines.keys.filter { $0 != name }.sorted()
        for action in actions {
            switch action {
            case .sendStatus(let to, let wantsReply):
                for other in to.map({ [$0] }) ?? others where linked(name, other) && machines[other] != nil {
                    send(.status(from: name, machine.status(wantsReply: wantsReply)), to: other)
                }
            case .sendStandForLeader:
                for other in others where linked(name, other) {
                    send(.standForLeader(from: name, priority: machine.settings.priority, startTime: machine.settings.startTime), to: other)
                }
            case .sendElectionReply(let to, let accept):
                if linked(name, to) { send(.electionReply(from: name, accept: accept), to: to) }
            case .sendShutdown:
                for other in others where linked(name, other) { send(.peerShutdown(from: name), to: other) }
            case .escalate: escalations.append(name)
            case .deEscalate: deEscalations.append(name)
            case .adoptBackends(let view): adopted[name] = view
            case .log: break
            }
        }
    }

    /// Advances time in 100 ms steps; every second each linked pair exchanges heartbeats.
    mutating func run(for seconds: Double, check: ((Harness) -> Void)? = nil) {
        let steps = Int(seconds * 10)
        for _ in 0..<steps {
            now += 0.1
            let tenths = Int((now * 10).rounded())
            if tenths % 10 == 0 {
                for a in machines.keys.sorted() { for b in machines.keys.sorted() where a != b && linked(a, b) { send(.heartbeat(from: a), to: b) } }
            }
            for name in machines.keys.sorted() { send(.tick, to: name) }
            check?(self)
        }
    }

    func state(_ name: String) -> WatchdogState? { machines[name]?.state }
    var leaders: [String] { machines.values.filter { $0.state == .leader }.map(\.settings.localName).sorted() }
    var escalated: [String] { machines.values.filter(\.escalated).map(\.settings.localName).sorted() }
}

@Suite struct QuorumRuleTests {
    @Test func oddAndEvenCounts() {
        let strict = QuorumRule(enableConsensusWithHalfVotes: false)
        let half = QuorumRule(enableConsensusWithHalfVotes: true)
        #expect(strict.required(members: 1) == 1)
        #expect(strict.required(members: 2) == 2)
        #expect(half.required(members: 2) == 1)
        #expect(strict.required(members: 3) == 2)
        #expect(half.required(members: 3) == 2)
        #expect(strict.required(members: 4) == 3)
        #expect(half.required(members: 4) == 2)
        #expect(strict.status(members: 2, alive: 1) == .absent)
        #expect(half.status(members: 2, alive: 1) == .onTheEdge)
        #expect(half.status(members: 2, alive: 2) == .exists)
        #expect(strict.status(members: 3, alive: 2) == .exists)
        #expect(half.status(members: 3, alive: 1) == .absent)
        #expect(half.status(members: 4, alive: 2) == .onTheEdge)
        #expect(strict.status(members: 4, alive: 2) == .absent)
        #expect(strict.status(members: 5, alive: 3) == .exists)
    }
}

@Suite struct WatchdogElectionTests {
    @Test func higherPriorityWinsWhenBothStartTogether() {
        var h = Harness([("a:9000", 1, 100), ("b:9000", 2, 100)])
        h.send(.start, to: "a:9000")
        h.send(.start, to: "b:9000")
        h.run(for: 4)
        #expect(h.leaders == ["b:9000"])
        #expect(h.state("a:9000") == .standby)
        #expect(h.machines["a:9000"]?.leader == "b:9000")
        #expect(h.escalated == ["b:9000"])
        #expect(h.machines["b:9000"]?.quorum == .exists)
    }

    @Test func earlierStartBreaksPriorityTie() {
        var h = Harness([("a:9000", 1, 200), ("b:9000", 1, 100)])
        h.send(.start, to: "a:9000")
        h.send(.start, to: "b:9000")
        h.run(for: 4)
        #expect(h.leaders == ["b:9000"])
    }

    @Test func returningHigherPriorityMemberJoinsAsStandby() {
        var h = Harness([("a:9000", 1, 100), ("b:9000", 5, 100)], halfVotes: true)
        h.cut = ["b:9000"]
        h.send(.start, to: "a:9000")
        h.run(for: 4)
        #expect(h.leaders == ["a:9000"])
        h.cut = []
        h.send(.start, to: "b:9000")
        h.run(for: 6) { harness in #expect(harness.state("b:9000") != .leader) }
        #expect(h.leaders == ["a:9000"])
        #expect(h.state("b:9000") == .standby)
    }

    @Test func standbyTakesOverWithinDeadtimeWhenTheLeaderDies() {
        var h = Harness([("a:9000", 2, 100), ("b:9000", 1, 100)], halfVotes: true, deadtime: 3)
        h.send(.start, to: "a:9000")
        h.send(.start, to: "b:9000")
        h.run(for: 4)
        #expect(h.leaders == ["a:9000"])
        let killedAt = h.now
        h.machines["a:9000"] = nil
        var tookOver: Double?
        h.run(for: 6) { harness in
            if tookOver == nil, harness.machines["b:9000"]?.escalated == true { tookOver = harness.now }
        }
        #expect(h.leaders == ["b:9000"])
        let elapsed = (tookOver ?? .infinity) - killedAt
        #expect(elapsed <= 3 + 2)
        #expect(h.machines["b:9000"]?.quorum == .onTheEdge)
    }

    @Test func survivorWithoutHalfVotesLeadsButDoesNotHoldTheVIP() {
        var h = Harness([("a:9000", 2, 100), ("b:9000", 1, 100)], deadtime: 3)
        h.send(.start, to: "a:9000")
        h.send(.start, to: "b:9000")
        h.run(for: 4)
        #expect(h.escalated == ["a:9000"])
        h.machines["b:9000"] = nil
        h.run(for: 5)
        #expect(h.leaders == ["a:9000"])
        #expect(h.machines["a:9000"]?.quorum == .absent)
        #expect(h.escalated.isEmpty)
        #expect(h.deEscalations == ["a:9000"])
    }

    @Test func isolatedMemberOfThreeNeverEscalatesAndTheOthersKeepOneLeader() {
        var h = Harness([("a:9000", 3, 100), ("b:9000", 2, 100), ("c:9000", 1, 100)], deadtime: 3)
        for name in ["a:9000", "b:9000", "c:9000"] { h.send(.start, to: name) }
        h.run(for: 4)
        #expect(h.leaders == ["a:9000"])
        h.cut = ["a:9000"]
        h.run(for: 10) { harness in
            #expect(harness.escalated.count <= 1)
            #expect(harness.machines["a:9000"]?.escalated == false || harness.now < 4 + 3 + 1)
        }
        #expect(h.escalated == ["b:9000"])
        #expect(h.machines["a:9000"]?.escalated == false)
        #expect(h.machines["a:9000"]?.quorum.allowsAction == false)
        h.cut = []
        h.run(for: 5) { harness in #expect(harness.escalated.count <= 1) }
        #expect(h.leaders == ["b:9000"])
        #expect(h.state("a:9000") == .standby)
    }

    @Test func networkIsolationReleasesTheVIP() {
        var h = Harness([("a:9000", 2, 100), ("b:9000", 1, 100)], halfVotes: true)
        h.send(.start, to: "a:9000")
        h.send(.start, to: "b:9000")
        h.run(for: 4)
        #expect(h.escalated == ["a:9000"])
        h.send(.trustedServers(reachable: false), to: "a:9000")
        #expect(h.state("a:9000") == .networkIsolation)
        #expect(h.machines["a:9000"]?.escalated == false)
        h.run(for: 3)
        #expect(h.escalated == ["b:9000"])
    }

    @Test func cleanShutdownReleasesAndRemovesWithTheOption() {
        var h = Harness([("a:9000", 2, 100), ("b:9000", 1, 100), ("c:9000", 1, 50)])
        for name in ["a:9000", "b:9000", "c:9000"] { h.send(.start, to: name) }
        h.run(for: 4)
        h.send(.shutdown, to: "a:9000")
        #expect(h.deEscalations == ["a:9000"])
        #expect(h.machines["b:9000"]?.peers["a:9000"]?.state == .shutdown)
        h.machines["a:9000"] = nil
        h.run(for: 3)
        #expect(h.leaders == ["c:9000"])
        #expect(h.escalated == ["c:9000"])
    }
}

@Suite struct WatchdogConsensusTests {
    func pair(halfVotes: Bool = false) -> Harness {
        var h = Harness([("a:9000", 2, 100), ("b:9000", 1, 100)], halfVotes: halfVotes)
        h.send(.start, to: "a:9000")
        h.send(.start, to: "b:9000")
        h.run(for: 4)
        return h
    }

    @Test func failoverNeedsVotesFromEnoughMembers() {
        let h = pair()
        var leader = h.machines["a:9000"]!
        let request = BackendChangeRequest(kind: .down, nodes: [2], confirmed: false, reason: "health_check")
        let decision1 = leader.decide(request, from: "a:9000", now: h.now)
        #expect(decision1 == .quarantine("1 of 2 votes needed for consensus"))
        let decision2 = leader.decide(request, from: "a:9000", now: h.now)
        #expect(decision2 == .quarantine("1 of 2 votes needed for consensus"))
        let decision3 = leader.decide(request, from: "b:9000", now: h.now)
        #expect(decision3 == .perform)
    }

    @Test func repeatedRequestsCountWithTheOption() {
        var h = Harness([("a:9000", 2, 100), ("b:9000", 1, 100)])
        h.machines["a:9000"] = WatchdogMachine(settings: .init(
            localName: "a:9000", peerNames: ["b:9000"], priority: 2, startTime: 100, keepalive: 1, deadtime: 5,
            allowMultipleFailoverRequestsFromNode: true))
        h.send(.start, to: "a:9000")
        h.send(.start, to: "b:9000")
        h.run(for: 4)
        var leader = h.machines["a:9000"]!
        let request = BackendChangeRequest(kind: .down, nodes: [1], confirmed: false, reason: "health_check")
        let decision4 = leader.decide(request, from: "a:9000", now: h.now)
        #expect(decision4 != .perform)
        let decision5 = leader.decide(request, from: "a:9000", now: h.now)
        #expect(decision5 == .perform)
    }

    @Test func noQuorumQuarantinesAndConfirmedRequestsAlwaysGo() {
        var h = pair()
        h.machines["b:9000"] = nil
        h.run(for: 6)
        var leader = h.machines["a:9000"]!
        let failure = BackendChangeRequest(kind: .down, nodes: [2], confirmed: false, reason: "health_check")
        let decision = leader.decide(failure, from: "a:9000", now: h.now)
        guard case .quarantine(let why) = decision else {
            Issue.record("expected quarantine")
            return
        }
        #expect(why.contains("no quorum"))
        let detach = BackendChangeRequest(kind: .down, nodes: [2], confirmed: true, reason: "detach")
        let decision6 = leader.decide(detach, from: "a:9000", now: h.now)
        #expect(decision6 == .perform)
    }

    @Test func onlyTheLeaderDecides() {
        let h = pair()
        var standby = h.machines["b:9000"]!
        let request = BackendChangeRequest(kind: .up, nodes: [1], confirmed: true, reason: "attach")
        let decision7 = standby.decide(request, from: "b:9000", now: h.now)
        #expect(decision7 == .notLeader)
    }

    @Test func votesExpire() {
        let h = pair()
        var leader = h.machines["a:9000"]!
        let request = BackendChangeRequest(kind: .down, nodes: [3], confirmed: false, reason: "health_check")
        _ = leader.decide(request, from: "a:9000", now: h.now)
        _ = leader.handle(.tick, now: h.now + 100)
        let decision8 = leader.decide(request, from: "b:9000", now: h.now + 100)
        #expect(decision8 != .perform)
    }
}

@Suite struct WatchdogHealingTests {
    /// A member cut off from the leader but not from a standby leads itself; when the partition
    /// heals it must not take the IP on the standby's vote while that standby follows the leader.
    @Test func healedLeaderDoesNotEscalateOnAnotherLeadersStandby() {
        var h = Harness([("a:9000", 3, 100), ("b:9000", 2, 100), ("c:9000", 1, 100)], deadtime: 3)
        for name in ["a:9000", "b:9000", "c:9000"] { h.send(.start, to: name) }
        h.run(for: 4)
        #expect(h.leaders == ["a:9000"])
        h.cut = ["b:9000"]
        h.run(for: 8)
        #expect(h.state("b:9000") == .leader)
        #expect(h.machines["b:9000"]?.escalated == false)
        // b hears c again first (a is still silent to b).
        h.cut = []
        h.send(.heartbeat(from: "c:9000"), to: "b:9000")
        h.send(.status(from: "c:9000", h.machines["c:9000"]!.status()), to: "b:9000")
        #expect(h.machines["b:9000"]?.escalated == false)
        h.run(for: 4) { harness in #expect(harness.escalated.count <= 1) }
        #expect(h.leaders == ["a:9000"])
        #expect(h.escalated == ["a:9000"])
    }
}
