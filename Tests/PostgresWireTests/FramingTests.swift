import NIOCore
import Testing
@testable import PostgresWire

@Suite("Framing")
struct FramingTests {
    /// Three messages: a Query, a Sync and a Terminate.
    func sampleStream() -> ByteBuffer {
        var buffer = ByteBuffer()
        FrontendMessageEncoder.query("SELECT 1", into: &buffer)
        FrontendMessageEncoder.sync(into: &buffer)
        FrontendMessageEncoder.terminate(into: &buffer)
        return buffer
    }

    @Test func splitterYieldsCompleteMessagesForEverySplit() throws {
        let stream = sampleStream()
        let bytes = Array(stream.readableBytesView)
        for cut in 0...bytes.count {
            for secondCut in cut...bytes.count {
                var splitter = MessageSplitter(maxMessageLength: 1 << 20)
                var types: [UInt8] = []
                var total = 0
                for part in [bytes[..<cut], bytes[cut..<secondCut], bytes[secondCut...]] {
                    try splitter.feed(ByteBuffer(bytes: part)) { message in
                        types.append(message.type)
                        total += message.bytes.readableBytes
                    }
                }
                #expect(types == Array("QSX".utf8), "cuts \(cut) \(secondCut)")
                #expect(total == bytes.count)
                #expect(splitter.bufferedByteCount == 0)
            }
        }
    }

    @Test func aMessageArrivingInManyReadsIsAppendedToNotCopiedAtEachRead() throws {
        var message = ByteBuffer()
        FrontendMessageEncoder.query(String(repeating: "x", count: 100_000), into: &message)
        var splitter = MessageSplitter(maxMessageLength: 1 << 20)
        var storage: Set<UInt> = []
        var whole: [RawMessage] = []
        while message.readableBytes > 0 {
            let run = try splitter.feedRun(message.readSlice(length: min(4096, message.readableBytes))!) { _, next in
                whole.append(next())
                return true
            }
            if let pending = splitter.pending {
                storage.insert(pending.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) })
            } else {
                #expect(run != nil)
            }
        }
        #expect(whole.count == 1 && whole[0].bytes.readableBytes == 100_006)
        #expect(storage.count == 1, "the held bytes moved \(storage.count - 1) times")
    }

    @Test func splitterEnforcesLengthLimit() {
        var splitter = MessageSplitter(maxMessageLength: 100)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "Q"))
        buffer.writeInteger(Int32(1000))
        #expect(throws: FramingError(messageType: UInt8(ascii: "Q"), length: 1000, limit: 100)) {
            try splitter.feed(buffer) { _ in }
        }
        var tooShort = ByteBuffer()
        tooShort.writeInteger(UInt8(ascii: "Q"))
        tooShort.writeInteger(Int32(2))
        var fresh = MessageSplitter(maxMessageLength: 100)
        #expect(throws: FramingError.self) { try fresh.feed(tooShort) { _ in } }
    }

    @Test func observerSeesWatchedMessagesAcrossEverySplit() throws {
        var stream = ByteBuffer()
        BackendMessageEncoder.parameterStatus(name: "TimeZone", value: "UTC", into: &stream)
        stream.writeMessage(type: BackendMessageType.dataRow) { $0.writeInteger(Int16(1)); $0.writeInteger(Int32(3)); $0.writeString("abc") }
        BackendMessageEncoder.readyForQuery(.inTransaction, into: &stream)
        let bytes = Array(stream.readableBytesView)
        for cut in 0...bytes.count {
            var observer = BackendStreamObserver(watching: [BackendMessageType.readyForQuery, BackendMessageType.parameterStatus], maxMessageLength: 1 << 20)
            var seen: [String] = []
            for part in [bytes[..<cut], bytes[cut...]] {
                try observer.scan(ByteBuffer(bytes: part)) { event in
                    if event.type == BackendMessageType.readyForQuery {
                        seen.append("Z\(try BackendMessageDecoder.readyForQuery(body: event.body))")
                    } else {
                        let (name, value) = try BackendMessageDecoder.parameterStatus(body: event.body)
                        seen.append("S\(name)=\(value)")
                    }
                }
            }
            #expect(seen == ["STimeZone=UTC", "ZinTransaction"], "cut \(cut)")
            #expect(observer.isAtMessageBoundary)
        }
    }

    /// A header alone (5 bytes) must not make the observer reserve the length it claims, up to
    /// max_message_length (1 GB by default), before the body arrives. Found by fuzz/backend-stream.
    @Test func observerDoesNotReserveTheClaimedLength() throws {
        var observer = BackendStreamObserver(watching: [BackendMessageType.errorResponse], maxMessageLength: 1 << 30)
        var buffer = ByteBuffer()
        buffer.writeInteger(BackendMessageType.errorResponse)
        buffer.writeInteger(Int32(512 << 20))
        buffer.writeString("SERROR\0")
        try observer.scan(buffer) { _ in Issue.record("the message is not complete") }
        #expect(observer.captureCapacity < 1 << 20)
        #expect(!observer.isAtMessageBoundary)
    }

    @Test func observerRejectsImpossibleLength() {
        var observer = BackendStreamObserver(watching: [], maxMessageLength: 1 << 20)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "D"))
        buffer.writeInteger(Int32(-5))
        #expect(throws: FramingError.self) { try observer.scan(buffer) { _ in } }
    }
}

@Suite("Startup packets")
struct StartupPacketTests {
    @Test func roundTripsEveryKind() throws {
        let packets: [StartupPacket] = [
            .sslRequest, .gssEncRequest, .cancel(BackendKey(processID: 42, secretKey: -7)),
            .startup(StartupParameters(pairs: [("user", "alice"), ("database", "db"), ("application_name", "psql")])),
        ]
        for packet in packets {
            var buffer = ByteBuffer()
            packet.encode(into: &buffer)
            let bytes = Array(buffer.readableBytesView)
            // Byte by byte: nil until complete, then the packet.
            var partial = ByteBuffer()
            for (index, byte) in bytes.enumerated() {
                partial.writeInteger(byte)
                let decoded = try StartupPacket.decode(from: &partial)
                if index < bytes.count - 1 { #expect(decoded == nil) } else { #expect(decoded == packet) }
            }
        }
    }

    @Test func databaseDefaultsToUser() {
        let parameters = StartupParameters(pairs: [("user", "bob")])
        #expect(parameters.database == "bob")
        #expect(parameters["application_name"] == nil)
    }

    @Test func rejectsBadLengthsAndProtocols() {
        var tooLong = ByteBuffer()
        tooLong.writeInteger(Int32(20_000))
        #expect(throws: StartupPacketError.invalidLength(20_000)) { try StartupPacket.decode(from: &tooLong) }
        var tooShort = ByteBuffer()
        tooShort.writeInteger(Int32(4))
        #expect(throws: StartupPacketError.invalidLength(4)) { try StartupPacket.decode(from: &tooShort) }
        var v2 = ByteBuffer()
        v2.writeInteger(Int32(8))
        v2.writeInteger(Int32(2 << 16))
        #expect(throws: StartupPacketError.unsupportedProtocol(major: 2, minor: 0)) { try StartupPacket.decode(from: &v2) }
        var unterminated = ByteBuffer()
        unterminated.writeInteger(Int32(13))
        unterminated.writeInteger(ProtocolCode.protocolVersion3)
        unterminated.writeString("users")
        #expect(throws: StartupPacketError.self) { try StartupPacket.decode(from: &unterminated) }
    }

    /// A startup packet from raw name/value bytes.
    func rawStartup(_ pairs: [([UInt8], [UInt8])]) -> ByteBuffer {
        var body: [UInt8] = []
        for (name, value) in pairs { body += name + [0] + value + [0] }
        body.append(0)
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(8 + body.count))
        buffer.writeInteger(ProtocolCode.protocolVersion3)
        buffer.writeBytes(body)
        return buffer
    }

    /// PostgreSQL takes the last value of a parameter given twice; pool_hba.conf and pool_passwd
    /// must see the same database and user as the backend that gets the packet.
    @Test func aParameterGivenTwiceHasItsLastValue() throws {
        var buffer = rawStartup([(Array("user".utf8), Array("alice".utf8)), (Array("database".utf8), Array("ok".utf8)),
                                 (Array("user".utf8), Array("postgres".utf8)), (Array("database".utf8), Array("secret".utf8))])
        guard case .startup(let parameters)? = try StartupPacket.decode(from: &buffer) else {
            Issue.record("no startup packet")
            return
        }
        #expect(parameters.user == "postgres")
        #expect(parameters.database == "secret")
        #expect(parameters.pairs.map(\.0) == ["user", "database"])
        #expect(StartupParameters(pairs: [("database", "a"), ("database", "b")])["database"] == "b")
    }

    /// Names longer than a PostgreSQL name are cut to 63 bytes, as the backend cuts them, without
    /// splitting a character.
    @Test func longUserAndDatabaseNamesAreCutAsPostgreSQLCutsThem() throws {
        let long = String(repeating: "a", count: 70)
        let accents = String(repeating: "\u{E9}", count: 40)  // 80 bytes
        var buffer = rawStartup([(Array("user".utf8), Array(long.utf8)), (Array("database".utf8), Array(accents.utf8)),
                                 (Array("application_name".utf8), Array(long.utf8))])
        guard case .startup(let parameters)? = try StartupPacket.decode(from: &buffer) else {
            Issue.record("no startup packet")
            return
        }
        #expect(parameters.user == String(repeating: "a", count: 63))
        #expect(parameters.database == String(repeating: "\u{E9}", count: 31))
        #expect(parameters["application_name"] == long)
    }

    /// A user or database name that is not UTF-8 would be read with U+FFFD and name another
    /// role: it is refused. Other parameters keep the replacement.
    @Test func userAndDatabaseNamesMustBeUTF8() throws {
        var user = rawStartup([(Array("user".utf8), [0x6A, 0xFF])])
        #expect(throws: StartupPacketError.malformed("the user name is not valid UTF-8")) { try StartupPacket.decode(from: &user) }
        var database = rawStartup([(Array("user".utf8), Array("u".utf8)), (Array("database".utf8), [0xC3])])
        #expect(throws: StartupPacketError.malformed("the database name is not valid UTF-8")) { try StartupPacket.decode(from: &database) }
        var application = rawStartup([(Array("user".utf8), Array("u".utf8)), (Array("application_name".utf8), [0x61, 0xFF])])
        guard case .startup(let parameters)? = try StartupPacket.decode(from: &application) else {
            Issue.record("no startup packet")
            return
        }
        #expect(parameters["application_name"] == "a\u{FFFD}")
    }
}

@Suite("Message codecs")
struct MessageCodecTests {
    @Test func errorFieldsRoundTrip() {
        let fields = ErrorFields(severity: .fatal, sqlState: "53300", message: "sorry, too many clients already", detail: "d", hint: "h")
        var buffer = ByteBuffer()
        BackendMessageEncoder.errorResponse(fields, into: &buffer)
        #expect(buffer.readInteger(as: UInt8.self) == BackendMessageType.errorResponse)
        let length = Int(buffer.readInteger(as: Int32.self)!)
        #expect(length == buffer.readableBytes + 4)
        let decoded = ErrorFields.decode(body: buffer)
        #expect(decoded == fields)
        #expect(decoded.sqlState == "53300")
        #expect(decoded.severity == "FATAL")
    }

    @Test func authenticationRequestsRoundTrip() throws {
        func decode(_ write: (inout ByteBuffer) -> Void) throws -> AuthenticationRequest {
            var buffer = ByteBuffer()
            write(&buffer)
            buffer.moveReaderIndex(forwardBy: 5)
            return try BackendMessageDecoder.authentication(body: buffer)
        }
        #expect(try decode { BackendMessageEncoder.authenticationOk(into: &$0) } == .ok)
        #expect(try decode { BackendMessageEncoder.authenticationCleartextPassword(into: &$0) } == .cleartextPassword)
        #expect(try decode { BackendMessageEncoder.authenticationMD5Password(salt: [1, 2, 3, 4], into: &$0) } == .md5Password(salt: [1, 2, 3, 4]))
        #expect(try decode { BackendMessageEncoder.authenticationSASL(mechanisms: ["SCRAM-SHA-256"], into: &$0) } == .sasl(mechanisms: ["SCRAM-SHA-256"]))
        #expect(try decode { BackendMessageEncoder.authenticationSASLContinue("r=x", into: &$0) } == .saslContinue("r=x"))
        #expect(try decode { BackendMessageEncoder.authenticationSASLFinal("v=y", into: &$0) } == .saslFinal("v=y"))
        #expect(try decode { $0.writeMessage(type: BackendMessageType.authentication) { $0.writeInteger(Int32(7)) } } == .unsupported(code: 7))
    }

    @Test func backendMessagesRoundTrip() throws {
        var buffer = ByteBuffer()
        BackendMessageEncoder.parameterStatus(name: "server_version", value: "15.1", into: &buffer)
        BackendMessageEncoder.backendKeyData(BackendKey(processID: 9, secretKey: 10), into: &buffer)
        BackendMessageEncoder.readyForQuery(.failed, into: &buffer)
        var splitter = MessageSplitter(maxMessageLength: 1000)
        var messages: [RawMessage] = []
        try splitter.feed(buffer) { messages.append($0) }
        #expect(messages.count == 3)
        #expect(try BackendMessageDecoder.parameterStatus(body: messages[0].body) == ("server_version", "15.1"))
        #expect(try BackendMessageDecoder.backendKeyData(body: messages[1].body) == BackendKey(processID: 9, secretKey: 10))
        #expect(try BackendMessageDecoder.readyForQuery(body: messages[2].body) == .failed)
    }

    @Test func frontendAuthMessagesRoundTrip() throws {
        var buffer = ByteBuffer()
        FrontendMessageEncoder.password("md5abc", into: &buffer)
        FrontendMessageEncoder.saslInitialResponse(mechanism: "SCRAM-SHA-256", data: "n,,n=,r=abc", into: &buffer)
        FrontendMessageEncoder.saslResponse("c=biws,r=abc,p=xyz", into: &buffer)
        var splitter = MessageSplitter(maxMessageLength: 1000)
        var messages: [RawMessage] = []
        try splitter.feed(buffer) { messages.append($0) }
        #expect(try FrontendMessageDecoder.password(body: messages[0].body) == "md5abc")
        let initial = try FrontendMessageDecoder.saslInitialResponse(body: messages[1].body)
        #expect(initial.mechanism == "SCRAM-SHA-256" && initial.data == "n,,n=,r=abc")
        #expect(FrontendMessageDecoder.saslResponse(body: messages[2].body) == "c=biws,r=abc,p=xyz")
        #expect(throws: MalformedMessage.self) { try FrontendMessageDecoder.password(body: ByteBuffer(string: "no-nul")) }
    }
}

@Suite("Message runs")
struct MessageRunTests {
    @Test func runStopsAtRefusedMessageAndKeepsOnlyTheTail() throws {
        var stream = ByteBuffer()
        FrontendMessageEncoder.query("SELECT 1", into: &stream)
        FrontendMessageEncoder.sync(into: &stream)
        let firstTwo = stream.readableBytes
        FrontendMessageEncoder.query("SELECT 2", into: &stream)
        var splitter = MessageSplitter(maxMessageLength: 1 << 20)
        // Everything but the last three bytes: two whole messages and a partial one.
        let head = stream.getSlice(at: 0, length: stream.readableBytes - 3)!
        let run = try splitter.feedRun(head) { _, _ in true }
        #expect(run?.readableBytes == firstTwo)
        #expect(splitter.bufferedByteCount == stream.readableBytes - 3 - firstTwo)
        let rest = stream.getSlice(at: stream.readableBytes - 3, length: 3)!
        let second = try splitter.feedRun(rest) { _, _ in true }
        #expect(second?.readableBytes == stream.readableBytes - firstTwo)
        #expect(splitter.bufferedByteCount == 0)

        var withTerminate = ByteBuffer()
        FrontendMessageEncoder.query("SELECT 3", into: &withTerminate)
        let beforeTerminate = withTerminate.readableBytes
        FrontendMessageEncoder.terminate(into: &withTerminate)
        FrontendMessageEncoder.query("ignored", into: &withTerminate)
        var types: [UInt8] = []
        let cut = try splitter.feedRun(withTerminate) { type, _ in
            types.append(type)
            return type != FrontendMessageType.terminate
        }
        #expect(cut?.readableBytes == beforeTerminate)
        #expect(types == Array("QX".utf8))
        // The refused message and what follows stay buffered, one message at a time.
        #expect(try splitter.nextMessage()?.type == FrontendMessageType.terminate)
        var last = try splitter.nextMessage()?.body
        #expect(last?.readNullTerminatedString() == "ignored")
        #expect(try splitter.nextMessage() == nil)
        #expect(splitter.bufferedByteCount == 0)
    }

    @Test func limitCanBeRaisedAfterLogin() throws {
        var splitter = MessageSplitter(maxMessageLength: 64)
        var big = ByteBuffer()
        FrontendMessageEncoder.query(String(repeating: "x", count: 100), into: &big)
        #expect(throws: FramingError.self) { try splitter.feed(big) { _ in } }
        var raised = MessageSplitter(maxMessageLength: 64)
        raised.maxMessageLength = 1 << 20
        var count = 0
        try raised.feed(big) { _ in count += 1 }
        #expect(count == 1)
    }
}

@Suite("Streamed messages")
struct StreamedMessageTests {
    @Test func aLargeMessageEndsTheRunAndStreamsInPiecesThenFramingGoesOn() throws {
        var stream = ByteBuffer()
        FrontendMessageEncoder.query("SELECT 1", into: &stream)
        let small = stream.readableBytes
        FrontendMessageEncoder.query(String(repeating: "x", count: 5000), into: &stream)
        let large = stream.readableBytes - small
        FrontendMessageEncoder.sync(into: &stream)
        var splitter = MessageSplitter(maxMessageLength: 1 << 20)
        splitter.streamThreshold = 1000
        let first = stream.getSlice(at: 0, length: small + 600)!
        #expect(try splitter.feedRun(first) { _, _ in true }?.readableBytes == small)
        let ahead = try #require(try splitter.largeMessageAhead())
        #expect(ahead.type == FrontendMessageType.query && ahead.size == large && ahead.buffered == 600)
        let head = try splitter.beginStreaming()!
        #expect(head.readableBytes == 600 && splitter.isStreaming && splitter.bufferedByteCount == 0)
        // The rest arrives with the Sync behind it: the message's bytes first, then framing.
        var rest = stream.getSlice(at: small + 600, length: stream.readableBytes - small - 600)!
        let piece = splitter.takeStreamed(from: &rest)!
        #expect(piece.readableBytes == large - 600 && !splitter.isStreaming)
        var types: [UInt8] = []
        _ = try splitter.feedRun(rest) { type, _ in types.append(type); return true }
        #expect(types == [FrontendMessageType.sync])
    }

    @Test func aLengthOverTheLimitIsStillAFramingError() {
        var stream = ByteBuffer()
        stream.writeInteger(FrontendMessageType.query)
        stream.writeInteger(Int32(1 << 21))
        var splitter = MessageSplitter(maxMessageLength: 1 << 20)
        splitter.streamThreshold = 1000
        #expect(throws: FramingError.self) { _ = try splitter.feedRun(stream) { _, _ in true } }
    }
}
