import Testing
@testable import Watchdog

@Suite struct WatchdogWireTests {
    let envelope = WatchdogEnvelope(from: "10.0.0.1:9000", boot: 100, seq: 1, time: 1_000, payload: .electionReply(accept: true))

    @Test func roundTrip() throws {
        let sealer = WatchdogSealer(authKey: "secret")
        let opened = try sealer.open(sealer.seal(envelope), limit: 4096).get()
        #expect(opened == envelope)
    }

    @Test func wrongKeyIsAnAuthenticationFailure() {
        let bytes = WatchdogSealer(authKey: "secret").seal(envelope)
        #expect(WatchdogSealer(authKey: "other").open(bytes, limit: 4096) == .failure(.authentication))
        #expect(WatchdogSealer(authKey: "").open(bytes, limit: 4096) == .failure(.authentication))
    }

    @Test func tamperingGarbageAndSize() {
        let sealer = WatchdogSealer(authKey: "k")
        var bytes = sealer.seal(envelope)
        bytes[bytes.count - 2] ^= 0x01
        #expect(sealer.open(bytes, limit: 4096) == .failure(.authentication))
        #expect(sealer.open(Array("GET / HTTP/1.1\r\n\r\n".utf8), limit: 4096) == .failure(.malformed))
        #expect(sealer.open([], limit: 4096) == .failure(.malformed))
        #expect(sealer.open(sealer.seal(envelope), limit: 10) == .failure(.oversized))
    }

    @Test func replayGuard() {
        var guardian = ReplayGuard()
        let admitted1348 = guardian.admit(envelope, wallClock: 1_000)
        #expect(admitted1348)
        let admitted1408 = guardian.admit(envelope, wallClock: 1_000)
        #expect(!admitted1408)
        var next = envelope
        next.seq = 2
        let admitted1518 = guardian.admit(next, wallClock: 1_001)
        #expect(admitted1518)
        var older = envelope
        older.boot = 50
        older.seq = 99
        let admitted1650 = guardian.admit(older, wallClock: 1_001)
        #expect(!admitted1650)
        var reboot = envelope
        reboot.boot = 200
        let admitted1764 = guardian.admit(reboot, wallClock: 1_002)
        #expect(admitted1764)
        var stale = reboot
        stale.seq = 5
        stale.time = 0
        let admitted1894 = guardian.admit(stale, wallClock: 1_002)
        #expect(!admitted1894)
    }
}
