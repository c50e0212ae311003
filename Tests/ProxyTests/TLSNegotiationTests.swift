import NIOCore
import PostgresWire
import Testing
@testable import Proxy

@Suite("TLS negotiation of the first packet")
struct TLSNegotiationTests {
    func packet(code: Int32, length: Int32 = 8, extra: [UInt8] = []) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(length)
        buffer.writeInteger(code)
        buffer.writeBytes(extra)
        return buffer
    }

    @Test func sslRequestIsUpgradedWhenTLSIsOn() {
        var negotiation = TLSNegotiation(tlsEnabled: true)
        #expect(negotiation.decide(packet(code: ProtocolCode.sslRequest)) == .upgrade)
    }

    @Test func sslRequestGoesToTheSessionWhenTLSIsOff() {
        var negotiation = TLSNegotiation(tlsEnabled: false)
        #expect(negotiation.decide(packet(code: ProtocolCode.sslRequest)) == .passThrough)
    }

    @Test func plainBytesPipelinedAfterAnSSLRequestAreRefused() {
        var negotiation = TLSNegotiation(tlsEnabled: true)
        guard case .refuse = negotiation.decide(packet(code: ProtocolCode.sslRequest, extra: [0, 0, 0, 9])) else {
            Issue.record("unencrypted data after the request must be refused"); return
        }
    }

    @Test func aTLSRecordStartsDirectTLS() {
        var on = TLSNegotiation(tlsEnabled: true)
        #expect(on.decide(ByteBuffer(bytes: [0x16, 0x03, 0x01])) == .directTLS)
        var off = TLSNegotiation(tlsEnabled: false)
        guard case .refuse = off.decide(ByteBuffer(bytes: [0x16])) else { Issue.record("no TLS to offer"); return }
    }

    @Test func gssEncryptionIsRefusedOnceThenAnSSLRequestMayFollow() {
        var negotiation = TLSNegotiation(tlsEnabled: true)
        #expect(negotiation.decide(packet(code: ProtocolCode.gssEncRequest)) == .refuseGSSEncryption)
        #expect(negotiation.decide(packet(code: ProtocolCode.sslRequest)) == .upgrade)
        var twice = TLSNegotiation(tlsEnabled: true)
        _ = twice.decide(packet(code: ProtocolCode.gssEncRequest))
        #expect(twice.decide(packet(code: ProtocolCode.gssEncRequest)) == .passThrough)
    }

    @Test func startupAndCancelPacketsPassThroughAndShortInputWaits() {
        var negotiation = TLSNegotiation(tlsEnabled: true)
        #expect(negotiation.decide(packet(code: ProtocolCode.protocolVersion3, length: 40)) == .passThrough)
        #expect(negotiation.decide(packet(code: 80_877_102, length: 16)) == .passThrough)
        #expect(negotiation.decide(ByteBuffer(bytes: [0, 0, 0])) == .needMore)
        #expect(negotiation.decide(ByteBuffer()) == .needMore)
    }
}
