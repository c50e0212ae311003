import NIOCore
import Testing

@testable import PostgresWire

@Suite struct MessageRemainderTests {
    func bytes(_ values: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: values) }

    @Test func theBodyStillToComeIsTakenAcrossChunks() {
        var rest = MessageRemainder(header: [], remaining: 7)
        #expect(!rest.isComplete)
        #expect(rest.take(from: bytes([1, 2, 3])) == 3)
        #expect(!rest.isComplete)
        #expect(rest.take(from: bytes([4, 5, 6, 7, 0x44, 0, 0])) == 4, "the next message is not taken")
        #expect(rest.isComplete)
        #expect(rest.take(from: bytes([9])) == 0)
    }

    @Test func aSplitHeaderIsCompletedFirstThenItsBody() {
        // 'd' with length 6: two body bytes. Seen so far: 'd', 0.
        var rest = MessageRemainder(header: [0x64, 0], remaining: 0)
        #expect(rest.take(from: bytes([0])) == 1)
        #expect(!rest.isComplete)
        #expect(rest.take(from: bytes([0, 6, 0xAA])) == 3)
        #expect(!rest.isComplete)
        #expect(rest.take(from: bytes([0xBB, 0x43])) == 1)
        #expect(rest.isComplete)
    }

    @Test func observerPositionFeedsIt() throws {
        var observer = BackendStreamObserver(watching: [], maxMessageLength: 1 << 20)
        let message: [UInt8] = [0x64, 0, 0, 0, 9] + [UInt8](repeating: 1, count: 5)
        try observer.scan(bytes(Array(message.prefix(7)))) { _ in }
        let position = observer.position
        var rest = MessageRemainder(header: position.header, remaining: position.remaining)
        #expect(rest.take(from: bytes(Array(message.dropFirst(7)) + [0x5A])) == 3)
        #expect(rest.isComplete)
    }
}
