// Watchdog messages: the TCP stream split by WatchdogFrameDecoder.next, each frame (and each
// heartbeat datagram) opened by WatchdogSealer.open (magic, HMAC-SHA256 with wd_authkey, JSON
// envelope), then ReplayGuard. So that the JSON decoding is reached, a second mode signs the
// input's bytes with the right key first. Checks: the wrong key never opens a message, a
// re-sealed envelope opens to itself, and the replay guard refuses a repeat.
//
// Input: one control byte (mode, chunking), then a stream of frames, or one JSON body to sign.
import Crypto
import Foundation
import FuzzSupport
import NIOCore
import Watchdog

let authKey = "fuzz-wd-authkey"
let sealer = WatchdogSealer(authKey: authKey)
let stranger = WatchdogSealer(authKey: "another-key")

func opened(_ message: [UInt8], limit: Int) {
    let result = sealer.open(message, limit: limit)
    if case .success = stranger.open(message, limit: limit) {
        check(false, "a message opened with the wrong key")
    }
    guard case .success(let envelope) = result else { return }
    check(message.count <= limit, "an oversized message was opened")

    // Re-sealed, it opens to itself (JSON has no infinities, so those cannot be re-sealed).
    if envelope.boot.isFinite && envelope.time.isFinite {
        let again = sealer.open(sealer.seal(envelope), limit: Int.max)
        check(again == .success(envelope), "re-sealed envelope opened as \(again)")
    }

    var guardian = ReplayGuard()
    let now = envelope.time
    if now.isFinite {
        check(guardian.admit(envelope, wallClock: now), "a fresh envelope was refused")
        check(!guardian.admit(envelope, wallClock: now), "a replayed envelope was admitted")
        if envelope.seq < UInt64.max {
            var next = envelope
            next.seq += 1
            check(guardian.admit(next, wallClock: now), "the next sequence number was refused")
        }
    }
    check(!guardian.admit(envelope, wallClock: now + WatchdogSealer.maxClockSkew * 2 + 1), "a stale envelope was admitted")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(bytes(start, count))
    let control = input.byte()
    let rest = input.rest()
    if control & 1 == 1 {
        // A body signed with the right key: what a member with the key could send.
        let mac = HMAC<SHA256>.authenticationCode(for: rest, using: SymmetricKey(data: Array(authKey.utf8)))
        let message = WatchdogSealer.magic + Array(mac) + rest
        opened(message, limit: WatchdogSealer.maxMessageSize)
        opened(message, limit: WatchdogSealer.maxDatagramSize)
        return 0
    }
    var random = FuzzRandom(seed: [control] + rest.prefix(8))
    var buffer = ByteBuffer()
    for chunk in random.chunks(of: rest, maxChunk: [4, 50, 500, 70_000][Int(control >> 1 & 3)]) {
        buffer.writeBytes(chunk)
        while true {
            let before = buffer.readableBytes
            let frame: [UInt8]?
            do {
                frame = try WatchdogFrameDecoder.next(from: &buffer)
            } catch {
                return 0
            }
            guard let frame else {
                check(buffer.readableBytes == before, "an incomplete frame consumed bytes")
                break
            }
            check(before - buffer.readableBytes == 4 + frame.count, "consumed a wrong number of bytes")
            opened(frame, limit: WatchdogSealer.maxMessageSize)
        }
    }
    // A datagram is one message, no frame.
    opened(rest, limit: WatchdogSealer.maxDatagramSize)
    return 0
}

/// With FUZZ_WRITE_SEEDS=<directory>, writes seeds made by the real sealer and exits: envelopes
/// of every payload kind, as signed bodies (mode 1) and as framed streams (mode 0).
@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let directory = ProcessInfo.processInfo.environment["FUZZ_WRITE_SEEDS"] else { return 0 }
    let status = MemberStatus(
        state: .leader, priority: 2, startTime: 1_764_000_000.25, leader: "10.0.0.1:9000", escalated: true, quorum: .exists,
        standbys: 2, leaderSince: 1_764_000_100, backends: BackendView(down: [2], up: [0, 1], primary: 0), wantsReply: true)
    let payloads: [WatchdogPayload] = [
        .heartbeat, .status(status), .standForLeader(priority: 3, startTime: 1_764_000_000.5), .electionReply(accept: true),
        .shutdown, .backendRequest(id: 7, BackendChangeRequest(kind: .down, nodes: [1], confirmed: false, reason: "health check")),
        .backendRequest(id: 8, BackendChangeRequest(kind: .promote, nodes: [1], confirmed: true, reason: "operator", switchover: true)),
        .backendResult(id: 7, .applied), .backendResult(id: 8, .refused("last usable node")), .backendResult(id: 9, .quarantine("no quorum")),
        .backendResult(id: 10, .notLeader), .reload,
    ]
    for (index, payload) in payloads.enumerated() {
        let envelope = WatchdogEnvelope(from: "10.0.0.\(index % 3 + 1):9000", boot: 1_764_000_000, seq: UInt64(index + 1),
                                        time: 1_764_000_200.125, payload: payload)
        let sealed = sealer.seal(envelope)
        let body = Array(sealed[36...])
        FileManager.default.createFile(atPath: "\(directory)/signed-\(index)", contents: Data([1] + body))
        var frame: [UInt8] = [0]
        for message in [sealed, sealer.seal(WatchdogEnvelope(from: envelope.from, boot: envelope.boot, seq: envelope.seq + 1,
                                                             time: envelope.time, payload: .heartbeat))] {
            let length = UInt32(message.count)
            frame += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + message
        }
        FileManager.default.createFile(atPath: "\(directory)/stream-\(index)", contents: Data(frame))
    }
    exit(0)
}
