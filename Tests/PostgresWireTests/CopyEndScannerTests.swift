import NIOCore
import PostgresWire
import Testing

/// The end of a client's copy, found in what it goes on sending after nobody reads its data.
@Suite("Copy end scanner")
struct CopyEndScannerTests {
    func message(_ type: Character, _ body: String = "") -> [UInt8] {
        var bytes = ByteBuffer()
        bytes.writeMessage(type: type.asciiValue!) { $0.writeString(body) }
        return Array(bytes.readableBytesView)
    }

    /// Feeds `bytes` in pieces of `size`: the piece where the copy ended and what followed its
    /// end in that piece.
    func end(of bytes: [UInt8], pieces size: Int, skipping: Int = 0) -> (piece: Int, after: [UInt8])? {
        var scanner = CopyEndScanner(skipping: skipping)
        for (piece, start) in stride(from: 0, to: bytes.count, by: size).enumerated() {
            let chunk = ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)])
            if case .ended(let after) = scanner.scan(chunk) { return (piece, Array(after.readableBytesView)) }
        }
        return nil
    }

    @Test func copyDataSyncAndFlushAreSkippedUntilCopyDone() {
        let data = message("d", "1\tone\n") + message("S") + message("H") + message("d", String(repeating: "c", count: 300))
        let done = message("c")
        for size in [1, 2, 3, 7, 64, 1000] {
            #expect(end(of: data, pieces: size) == nil, "piece size \(size)")
            let found = end(of: data + done + message("S"), pieces: size)
            #expect(found?.piece == (data.count + done.count - 1) / size, "piece size \(size)")
            // What follows the CopyDone, within its piece.
            let pieceEnd = min(((data.count + done.count - 1) / size + 1) * size, data.count + done.count + 5)
            #expect(found?.after == Array((data + done + message("S"))[(data.count + done.count)..<pieceEnd]), "piece size \(size)")
        }
    }

    @Test func copyFailEndsTheCopyAndAnotherMessageEndsItBeforeItself() {
        #expect(end(of: message("f", "cancelled") + message("S"), pieces: 100)?.after == message("S"))
        #expect(end(of: message("d", "x") + message("Q", "SELECT 1"), pieces: 100)?.after == message("Q", "SELECT 1"))
    }

    @Test func theRestOfAMessageAlreadyStartedIsSkipped() {
        // 20 bytes of the started message look like CopyDones; they are data.
        let rest = Array(repeating: UInt8(ascii: "c"), count: 20)
        #expect(end(of: rest, pieces: 5, skipping: 20) == nil)
        #expect(end(of: rest + message("c"), pieces: 5, skipping: 20)?.piece == 4)
    }

    @Test func anImpossibleLengthEndsTheWait() {
        #expect(end(of: [UInt8(ascii: "d"), 0, 0, 0, 3], pieces: 1)?.piece == 4)
        #expect(end(of: [UInt8(ascii: "d"), 0xFF, 0xFF, 0xFF, 0xFF], pieces: 2)?.piece == 2)
    }

    @Test func syncsAndFlushesAtTheFrontAreDropped() {
        let bytes = ByteBuffer(bytes: message("S") + message("H") + message("Q", "SELECT 1") + message("S"))
        #expect(Array(CopyEndScanner.droppingSyncs(bytes).readableBytesView) == message("Q", "SELECT 1") + message("S"))
        #expect(CopyEndScanner.droppingSyncs(ByteBuffer(bytes: message("S"))).readableBytes == 0)
    }
}
