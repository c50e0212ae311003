import NIOCore
import PostgresWire

/// Follows the replies of a transaction-mode backend connection to Parse and Close messages, so
/// that replies to SwiftPool's own messages are hidden and a CloseComplete can stand in for the
/// ParseComplete of a statement the connection already had. Pure, fed in send order and with
/// the connection's output.
///
/// Each ParseComplete answers the oldest unanswered Parse, each CloseComplete the oldest
/// unanswered Close; after an ErrorResponse the backend skips every message up to the next Sync,
/// so the Parse and Close messages sent before that Sync get no reply. The ReadyForQuery of a
/// quiet Sync (SwiftPool's own) is removed. The output is scanned only while a Parse, Close or
/// quiet Sync waits for its reply; otherwise each ReadyForQuery just retires a Sync or Query
/// (``readyForQuery(count:)``). Every ReadyForQuery is counted exactly once either way
/// (``readyCount``).
struct ReplyFilter {
    /// What becomes of a reply.
    enum Disposition: Equatable {
        case pass
        case drop
        /// A CloseComplete the client sees as ParseComplete.
        case asParseComplete
    }

    enum Entry: Equatable {
        case parse(Disposition, name: String)
        case close(Disposition, name: String)
        /// A Sync, Query or FunctionCall: ends with ReadyForQuery.
        case syncPoint
        /// SwiftPool's own Sync: its ReadyForQuery is removed.
        case quietSyncPoint
    }

    private var entries: [Entry] = []
    private var head = 0
    /// Parse and Close entries not answered yet.
    private var awaited = 0
    /// Bytes of the message being scanned that are still to come.
    private var remaining = 0
    /// The start of a message header that ended a read.
    private var partialHeader: [UInt8] = []
    /// How many bytes of `partialHeader` already went to the client (they ended a read that was
    /// not scanned).
    private var forwardedHeaderBytes = 0
    /// Whether the previous read was scanned, so `remaining` and `partialHeader` are current.
    private var scannedLastRead = false
    /// The rest of the message being scanned is dropped (a quiet ReadyForQuery's status byte).
    private var droppingRemaining = false
    /// ReadyForQuery messages accounted for: seen while scanning or reported unscanned.
    private(set) var readyCount = 0

    /// Whether the next read must be scanned.
    var isScanning: Bool { awaited > 0 || (scannedLastRead && (remaining > 0 || !partialHeader.isEmpty)) }

    /// A message went to the backend.
    mutating func sent(_ type: UInt8, _ disposition: Disposition = .pass, name: String = "") {
        switch type {
        case FrontendMessageType.parse:
            entries.append(.parse(disposition, name: name))
            awaited += 1
        case FrontendMessageType.close:
            entries.append(.close(disposition, name: name))
            awaited += 1
        case FrontendMessageType.sync where disposition == .drop:
            entries.append(.quietSyncPoint)
            awaited += 1
        case FrontendMessageType.sync, FrontendMessageType.query, FrontendMessageType.functionCall:
            entries.append(.syncPoint)
        default:
            break
        }
    }

    /// ReadyForQuery messages of a read that was not scanned.
    /// The connection had received `count` ReadyForQuery messages before the filter watched it.
    mutating func startCounting(at count: Int) { readyCount = count }

    mutating func readyForQuery(count: Int) {
        for _ in 0..<count { _ = popThroughSyncPoint() }
        readyCount += count
    }

    /// Rewrites a read when it must be scanned; returns the bytes for the client (nil: the read
    /// was not scanned, use it as it is) and the entries whose messages the backend skipped.
    /// `streamPosition`: where the stream stood inside a message before this read (the framing
    /// the connection tracks anyway), used when the previous read was not scanned.
    mutating func process(_ bytes: ByteBuffer,
                          streamPosition: (header: [UInt8], remaining: Int, type: UInt8) = ([], 0, 0))
        -> (output: ByteBuffer?, skipped: [Entry]) {
        guard isScanning else {
            scannedLastRead = false
            return (nil, [])
        }
        var skipped: [Entry] = []
        if !scannedLastRead {
            remaining = streamPosition.remaining
            partialHeader = streamPosition.header
            forwardedHeaderBytes = streamPosition.header.count
            droppingRemaining = false
            if remaining > 0, streamPosition.type == BackendMessageType.readyForQuery {
                // Its header went out unscanned: it is counted here, and shown.
                skipped += popThroughSyncPoint().entries
                readyCount += 1
            }
        }
        scannedLastRead = true
        var input = bytes
        var alreadyForwarded = 0
        if !partialHeader.isEmpty {
            var joined = ByteBuffer(bytes: partialHeader)
            joined.writeBuffer(&input)
            input = joined
            partialHeader.removeAll()
            alreadyForwarded = forwardedHeaderBytes
            forwardedHeaderBytes = 0
        }
        var output = ByteBuffer()
        output.reserveCapacity(input.readableBytes)
        /// Leaves out the message whose header starts `input`, its body as it arrives.
        func dropMessage(length: Int) {
            input.moveReaderIndex(forwardBy: 5)
            alreadyForwarded = 0
            remaining = max(0, length - 4)
            droppingRemaining = true
        }
        while input.readableBytes > 0 {
            if remaining > 0 {
                let take = min(remaining, input.readableBytes)
                var slice = input.readSlice(length: take)!
                if !droppingRemaining { output.writeBuffer(&slice) }
                remaining -= take
                continue
            }
            droppingRemaining = false
            guard input.readableBytes >= 5 else {
                // Held back (not forwarded) until the rest of the header says what it is.
                partialHeader = Array(input.readableBytesView)
                forwardedHeaderBytes = alreadyForwarded
                break
            }
            let type = input.getInteger(at: input.readerIndex, as: UInt8.self)!
            let length = Int(input.getInteger(at: input.readerIndex + 1, as: Int32.self)!)
            switch type {
            case BackendMessageType.parseComplete, BackendMessageType.closeComplete:
                var header = input.readSlice(length: 5)!
                header.moveReaderIndex(forwardBy: alreadyForwarded)
                alreadyForwarded = 0
                switch answer(type) {
                case .pass: output.writeBuffer(&header)
                case .drop: break
                case .asParseComplete:
                    output.writeInteger(BackendMessageType.parseComplete)
                    output.writeInteger(Int32(4))
                }
                remaining = max(0, length - 4)
                continue
            case BackendMessageType.errorResponse:
                let hidden = errorIsHidden
                skipped.append(contentsOf: skipToSyncPoint())
                if hidden {
                    // An error in an exchange of SwiftPool's own messages only (a statement
                    // prepared again before a DEALLOCATE): the client asked nothing of it.
                    dropMessage(length: length)
                    continue
                }
            case BackendMessageType.readyForQuery:
                let (entries, quiet) = popThroughSyncPoint()
                skipped += entries
                readyCount += 1
                if quiet {
                    dropMessage(length: length)
                    continue
                }
            default:
                break
            }
            var header = input.readSlice(length: 5)!
            header.moveReaderIndex(forwardBy: alreadyForwarded)
            alreadyForwarded = 0
            output.writeBuffer(&header)
            remaining = max(0, length - 4)
        }
        return (output, skipped)
    }

    /// The disposition of the reply to the oldest unanswered Parse (or Close).
    private mutating func answer(_ type: UInt8) -> Disposition {
        var index = head
        while index < entries.count {
            switch entries[index] {
            case .parse(let disposition, _) where type == BackendMessageType.parseComplete,
                 .close(let disposition, _) where type == BackendMessageType.closeComplete:
                entries.remove(at: index)
                awaited -= 1
                compact()
                return disposition
            default:
                index += 1
            }
        }
        return .pass
    }

    /// Whether an error now belongs to SwiftPool alone: every message up to the next Sync is
    /// hidden, and that Sync is SwiftPool's own.
    private var errorIsHidden: Bool {
        var index = head
        while index < entries.count {
            switch entries[index] {
            case .quietSyncPoint: return true
            case .syncPoint, .parse(.pass, _), .parse(.asParseComplete, _), .close(.pass, _), .close(.asParseComplete, _):
                return false
            case .parse(.drop, _), .close(.drop, _):
                index += 1
            }
        }
        return false
    }

    /// An error: Parse and Close messages up to the next Sync are skipped by the backend.
    private mutating func skipToSyncPoint() -> [Entry] {
        var skipped: [Entry] = []
        while head < entries.count, entries[head] != .syncPoint, entries[head] != .quietSyncPoint {
            skipped.append(entries[head])
            head += 1
            awaited -= 1
        }
        compact()
        return skipped
    }

    /// A ReadyForQuery: retires the oldest Sync or Query (and anything unanswered before it);
    /// `quiet`: it was SwiftPool's own Sync.
    private mutating func popThroughSyncPoint() -> (entries: [Entry], quiet: Bool) {
        var skipped: [Entry] = []
        var quiet = false
        while head < entries.count {
            let entry = entries[head]
            head += 1
            if entry == .syncPoint { break }
            if entry == .quietSyncPoint {
                awaited -= 1
                quiet = true
                break
            }
            skipped.append(entry)
            awaited -= 1
        }
        compact()
        return (skipped, quiet)
    }

    private mutating func compact() {
        if head == entries.count {
            entries.removeAllKeepingCapacity()
            head = 0
        } else if head > 64, head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
