import Testing
import Watchdog
@testable import Etcd

/// One member's machine driven by hand: every request it asks for is answered (or failed) by the
/// test, at the time the test says.
struct Driver {
    var machine: EtcdMachine
    var now = 0.0
    var log: [EtcdMachine.Action] = []

    init(name: String = "m0", ttl: Double = 6, consensus: Bool = true) {
        machine = EtcdMachine(settings: .init(localName: name, ttl: ttl, failoverRequireConsensus: consensus))
    }

    @discardableResult
    mutating func send(_ event: EtcdMachine.Event, at time: Double? = nil) -> [EtcdMachine.Action] {
        if let time { now = time }
        let actions = machine.handle(event, now: now)
        log += actions
        return actions
    }

    /// Start, lease, registration, a synced view with `leader`: the usual join.
    mutating func join(leader: String? = nil, members: [String] = []) {
        send(.start)
        send(.leaseGranted(id: "L1", ttl: machine.settings.ttl, sentAt: now))
        send(.registered)
        var records: [String: MemberRecord] = [:]
        for name in members + [machine.settings.localName] { records[name] = record(name) }
        send(.synced(leader: leader, members: records, backends: nil))
    }

    func record(_ name: String, escalated: Bool = false) -> MemberRecord {
        MemberRecord(name: name, host: "127.0.0.1", pgpoolPort: 9999, machine: "box", started: 0, escalated: escalated)
    }
}

func kinds(_ actions: [EtcdMachine.Action]) -> [String] {
    actions.compactMap { action in
        switch action {
        case .grantLease: "grant"
        case .renew: "renew"
        case .register: "register"
        case .campaign: "campaign"
        case .escalate: "escalate"
        case .deEscalate: "deEscalate"
        case .adopt: "adopt"
        case .tookOver: "tookOver"
        case .release: "release"
        case .log: nil
        }
    }
}

@Suite struct EtcdMachineTests {
    @Test func startAsksForALeaseThenRegistersAndCampaignsOnceSynced() {
        var d = Driver()
        #expect(kinds(d.send(.start)) == ["grant"])
        #expect(kinds(d.send(.tick, at: 0.1)) == [], "no second grant while one is in flight")
        #expect(kinds(d.send(.leaseGranted(id: "L1", ttl: 6, sentAt: 0), at: 0.2)) == ["register"])
        #expect(kinds(d.send(.registered, at: 0.3)) == [], "no campaign before the keys were read")
        #expect(kinds(d.send(.synced(leader: nil, members: [:], backends: nil), at: 0.4)) == ["campaign"])
        let won = d.send(.campaigned(won: true, holder: nil), at: 0.5)
        #expect(kinds(won) == ["register", "tookOver", "escalate"])
        #expect(d.machine.isLeader(now: 0.5) && d.machine.escalated && d.machine.elections == 1)
    }

    @Test func aLostCampaignFollowsTheHolder() {
        var d = Driver()
        d.join()
        #expect(kinds(d.log).last == "campaign")
        #expect(kinds(d.send(.campaigned(won: false, holder: "m1"))) == [])
        #expect(d.machine.leader == "m1" && !d.machine.isLeader(now: d.now) && !d.machine.escalated)
        #expect(d.machine.localState(now: d.now) == .standby)
    }

    @Test func anExistingLeaderIsFollowedWithoutACampaign() {
        var d = Driver()
        d.join(leader: "m1", members: ["m1"])
        #expect(!kinds(d.log).contains("campaign"))
        #expect(d.machine.quorum == .exists)
    }

    @Test func renewalsComeEveryThirdOfTheTTLAndExtendTheDeadline() {
        var d = Driver(ttl: 6)
        d.join()
        d.send(.campaigned(won: true, holder: nil))
        #expect(kinds(d.send(.tick, at: 1.9)) == [])
        #expect(kinds(d.send(.tick, at: 2.0)) == ["renew"])
        #expect(kinds(d.send(.tick, at: 3.0)) == [], "one renewal in flight at a time")
        d.send(.renewed(ttl: 6, sentAt: 2.0), at: 2.1)
        #expect(d.machine.leaseDeadline == 8.0)
        #expect(kinds(d.send(.tick, at: 4.0)) == ["renew"])
    }

    @Test func aLeaderThatCannotRenewDeEscalatesBeforeTheLeaseCanExpire() {
        var d = Driver(ttl: 6)
        d.join()
        d.send(.campaigned(won: true, holder: nil))
        // Renewal at 2 fails, so does the one at 4: the deadline stays at 6, the margin is 1.5.
        d.send(.tick, at: 2.0)
        d.send(.requestFailed(.renew), at: 3.0)
        #expect(d.machine.escalated, "one failed renewal alone does not de-escalate")
        d.send(.tick, at: 4.0)
        d.send(.requestFailed(.renew), at: 4.4)
        #expect(kinds(d.send(.tick, at: 4.4)) == [])
        #expect(kinds(d.send(.tick, at: 4.5)) == ["deEscalate"])
        #expect(!d.machine.isLeader(now: 4.5) && d.machine.quorum == .absent)
        #expect(d.machine.localState(now: 4.5) == .inNetworkTrouble)
        #expect(4.5 < 6.0, "let go before the lease could end in etcd")
    }

    @Test func aLeaseThatSurvivedTheOutageMakesTheLeaderLeadAgain() {
        var d = Driver(ttl: 6)
        d.join()
        d.send(.campaigned(won: true, holder: nil))
        d.send(.tick, at: 2.0)
        d.send(.requestFailed(.renew), at: 4.0)
        d.send(.tick, at: 5.0)
        #expect(!d.machine.escalated)
        // etcd is back and kept the lease (and so the leader key): renewing it is enough.
        d.send(.tick, at: 6.0)
        let back = d.send(.renewed(ttl: 6, sentAt: 6.0), at: 6.1)
        #expect(kinds(back).contains("escalate") && d.machine.isLeader(now: 6.1))
        #expect(d.machine.elections == 2)
    }

    @Test func anExpiredLeaseIsReplacedAndTheMemberJoinsAgain() {
        var d = Driver(ttl: 6)
        d.join(leader: "m1", members: ["m1"])
        d.send(.tick, at: 2.0)
        let lost = d.send(.renewed(ttl: nil, sentAt: 2.0), at: 2.1)
        #expect(d.machine.lease == nil && kinds(lost) == ["grant"])
        #expect(kinds(d.send(.tick, at: 2.2)) == [], "one grant in flight at a time")
        #expect(kinds(d.send(.leaseGranted(id: "L2", ttl: 6, sentAt: 2.2), at: 2.3)) == ["register"])
    }

    @Test func whenTheLeaderKeyVanishesTheOthersCampaign() {
        var d = Driver()
        d.join(leader: "m1", members: ["m1", "m2"])
        #expect(kinds(d.send(.memberChanged(name: "m1", record: nil))) == [])
        #expect(kinds(d.send(.leaderChanged(nil))) == ["campaign"])
        #expect(d.machine.lostMembers["m1"] != nil)
        let report = d.machine.report(now: d.now, local: d.record("m0"), delegateIP: "", requests: [:], failoverRequests: [:])
        #expect(report.members.map(\.name) == ["m0", "m1", "m2"])
        #expect(report.members[1].state == .lost && !report.members[1].alive)
        #expect(report.quorum == .noLeader && report.backEnd == .etcd)
    }

    @Test func othersAdoptTheLeadersBackendViewButNotTheirOwn() {
        var d = Driver()
        d.join(leader: "m1", members: ["m1"])
        let view = BackendView(down: [2], up: [0, 1], primary: 0)
        #expect(d.send(.backendsChanged(BackendsRecord(view: view, leader: "m1"))).contains(.adopt(view)))
        #expect(kinds(d.send(.backendsChanged(BackendsRecord(view: view, leader: "m1")))) == [], "the same view twice is applied once")
        #expect(kinds(d.send(.backendsChanged(BackendsRecord(view: view, leader: "m0")))) == [])
    }

    @Test func failuresNeedAMajorityOfMembersAndEtcd() {
        var d = Driver()
        d.join(members: ["m1", "m2"])
        d.send(.campaigned(won: true, holder: nil))
        let failure = BackendChangeRequest(kind: .down, nodes: [2], confirmed: false, reason: "health_check")
        #expect(d.machine.decide(failure, from: "m0", now: d.now) == .quarantine("1 of 2 votes needed for consensus"))
        #expect(d.machine.decide(failure, from: "m0", now: d.now) == .quarantine("1 of 2 votes needed for consensus"),
                "one member's repeated reports count once")
        #expect(d.machine.decide(failure, from: "m2", now: d.now) == .perform)
        let detach = BackendChangeRequest(kind: .down, nodes: [3], confirmed: true, reason: "detach")
        #expect(d.machine.decide(detach, from: "m1", now: d.now) == .perform)
        d.send(.requestFailed(.renew))
        #expect(d.machine.decide(failure, from: "m1", now: d.now) == .quarantine("etcd does not answer; no failover without it"))
    }

    @Test func onlyTheLeaderDecides() {
        var d = Driver()
        d.join(leader: "m1", members: ["m1"])
        let detach = BackendChangeRequest(kind: .down, nodes: [3], confirmed: true, reason: "detach")
        #expect(d.machine.decide(detach, from: "m0", now: d.now) == .notLeader)
    }

    @Test func shutdownDeEscalatesAndReleasesTheKeyAndLease() {
        var d = Driver()
        d.join()
        d.send(.campaigned(won: true, holder: nil))
        let stop = d.send(.shutdown)
        #expect(stop.contains(.deEscalate) && stop.contains(.release(lease: "L1", resign: true)))
        #expect(kinds(d.send(.tick, at: 10)) == [], "nothing after the shutdown")
    }

    @Test func escalationChangesAreRegisteredSoOthersCanShowThem() {
        var d = Driver()
        d.join()
        let won = d.send(.campaigned(won: true, holder: nil))
        #expect(won.contains(.register(lease: "L1", escalated: true)))
    }
}

@Suite struct EtcdKeysTests {
    @Test func layoutAndRangeEnd() {
        let keys = EtcdKeys(prefix: "/swiftpool/prod")
        #expect(keys.leader == "/swiftpool/prod/leader")
        #expect(keys.all.key == "/swiftpool/prod/" && keys.all.rangeEnd == "/swiftpool/prod0")
        #expect(keys.kind(of: "/swiftpool/prod/members/a:1") == .member("a:1"))
        #expect(keys.kind(of: "/swiftpool/prod/requests/x-1") == .request("x-1"))
        #expect(keys.kind(of: "/swiftpool/prod/backends") == .backends)
        #expect(keys.kind(of: "/swiftpool/prod/other") == nil)
        #expect(EtcdKeys.rangeEnd(of: "a") == "b")
    }
}
