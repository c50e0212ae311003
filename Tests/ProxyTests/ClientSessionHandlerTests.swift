import Cluster
import Logging
import NIOCore
import NIOEmbedded
import PostgresWire
import Testing
@testable import Proxy

/// The client channel handler with NIO's EmbeddedChannel: no socket, no backend.
@Suite("Client session handler")
struct ClientSessionHandlerTests {
    final class Harness {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel
        let runtime: ProxyRuntime
        let handler: ClientSessionHandler

        init(policy: ClientAuthPolicy?, numInitChildren: Int = 4) throws {
            var settings = ProxySettings()
            settings.numInitChildren = numInitChildren
            settings.authenticationTimeout = .zero
            let logger = Logger(label: "test")
            runtime = ProxyRuntime(
                settings: settings, credentials: CredentialStore(passwords: [:]), authPolicy: policy, routing: nil,
                cluster: ClusterState(nodes: []), catalog: CatalogFactsCache(lookup: nil, logger: logger), logger: logger,
                primaryNode: { nil })
            let pool = BackendPool(
                eventLoop: loop, connector: BackendConnector(credentials: runtime.credentials, connectTimeout: .seconds(1),
                                                             maxMessageLength: 1 << 20),
                capacity: 0, lifeTime: .zero, cachingEnabled: false, logger: logger)
            let handler = ClientSessionHandler(runtime: runtime, pool: pool, sessions: SessionRegistry(loopIndex: 0, loopCount: 1),
                                               sessionID: 1)
            self.handler = handler
            channel = EmbeddedChannel(handler: handler, loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        }

        /// Puts the session in the forwarding phase on a primary whose channel is embedded too
        /// (as if the login had run); returns that channel.
        func forwarding() throws -> (EmbeddedChannel, BackendConnection) {
            let backend = EmbeddedChannel(loop: loop)
            let connection = try BackendConnectionTests.connection(on: backend)
            let startup = BackendConnectionTests.startup
            handler.startup = startup
            handler.machine.startup = startup
            handler.primaryConnection = connection
            connection.owner = handler
            handler.machine.phase = .forwarding
            handler.machine.splitter.maxMessageLength = 1 << 30
            handler.machine.splitter.streamThreshold = DispatchMachine.streamThreshold
            handler.machine.dispatch = handler.makeDispatch(primary: 0)
            return (backend, connection)
        }

        /// Everything written to `backend` so far.
        func written(to backend: EmbeddedChannel) throws -> ByteBuffer {
            var all = ByteBuffer()
            while var part = try backend.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&part) }
            return all
        }

        func send(_ packet: StartupPacket) throws {
            var buffer = ByteBuffer()
            packet.encode(into: &buffer)
            try send(buffer)
        }

        func send(_ bytes: ByteBuffer) throws {
            try channel.writeInbound(bytes)
            loop.run()
        }

        /// Everything the client was sent so far.
        func received() throws -> ByteBuffer {
            var all = ByteBuffer()
            while var part = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&part) }
            return all
        }

        /// The ErrorResponse the client got: its SQLSTATE and message.
        func error() throws -> (sqlState: String?, message: String?) {
            var bytes = try received()
            while bytes.readableBytes >= 5 {
                let type = bytes.readInteger(as: UInt8.self)!
                let length = Int(bytes.readInteger(as: Int32.self)!)
                let body = bytes.readSlice(length: length - 4)!
                if type == UInt8(ascii: "E") {
                    let fields = ErrorFields.decode(body: body)
                    return (fields.sqlState, fields.message)
                }
            }
            return (nil, nil)
        }
    }

    func startup(user: String?) -> StartupPacket {
        var pairs = [("database", "app")]
        if let user { pairs.append(("user", user)) }
        return .startup(StartupParameters(pairs: pairs))
    }

    @Test func sslRequestIsRefusedThenTheSessionGoesOnInPlainText() throws {
        let harness = try Harness(policy: { _ in .reject })
        try harness.send(.sslRequest)
        #expect(try harness.received() == ByteBuffer(string: "N"))
        #expect(harness.channel.isActive)
        try harness.send(startup(user: "alice"))
        let error = try harness.error()
        #expect(error.sqlState == "28000")
        #expect(error.message?.contains("pool_hba.conf rejects") == true)
        #expect(!harness.channel.isActive)
        // The slot went back.
        #expect(harness.runtime.admission.waitingCount == 0)
    }

    @Test func aStartupPacketWithoutAUserIsRefused() throws {
        let harness = try Harness(policy: nil)
        try harness.send(startup(user: nil))
        #expect(try harness.error().sqlState == "28000")
        #expect(!harness.channel.isActive)
    }

    @Test func garbageInsteadOfAStartupPacketIsAProtocolViolation() throws {
        let harness = try Harness(policy: nil)
        var bytes = ByteBuffer()
        bytes.writeInteger(Int32(4))  // shorter than any startup packet
        bytes.writeInteger(Int32(1234))
        try harness.send(bytes)
        #expect(try harness.error().sqlState == "08P01")
        #expect(!harness.channel.isActive)
    }

    @Test func anAuthenticatedClientWithoutAUsableNodeIsTold() throws {
        let harness = try Harness(policy: { _ in .authenticate(.trust) })
        try harness.send(startup(user: "alice"))
        let error = try harness.error()
        #expect(error.sqlState == "57P03")
        #expect(!harness.channel.isActive)
    }

    @Test func aClientBeyondTheSlotsWaitsThenIsRefused() throws {
        let harness = try Harness(policy: { _ in .authenticate(.trust) }, numInitChildren: 1)
        // Another client holds the only slot.
        _ = harness.runtime.admission.acquire(on: harness.loop, waitAtMost: .seconds(5)) { _ in }
        try harness.send(startup(user: "alice"))
        #expect(try harness.received().readableBytes == 0, "the client waits for a slot")
        harness.loop.advanceTime(by: .seconds(6))
        #expect(try harness.error().sqlState == "53300")
    }

    // MARK: Forwarding

    @Test func aQueryGoesToThePrimaryAndItsAnswerToTheClient() throws {
        let harness = try Harness(policy: nil)
        let (backend, connection) = try harness.forwarding()
        var query = ByteBuffer()
        FrontendMessageEncoder.query("SELECT 1", into: &query)
        try harness.send(query)
        #expect(try harness.written(to: backend) == query)
        var answer = ByteBuffer()
        BackendMessageEncoder.commandComplete("SELECT 1", into: &answer)
        BackendMessageEncoder.readyForQuery(.idle, into: &answer)
        connection.received(answer)
        harness.handler.backendDidFinishReading(connection)
        #expect(try harness.received() == answer)
        #expect(harness.handler.snapshot.state == "idle")
    }

    @Test func aLargeQueryStreamsThroughInPiecesAndFramingGoesOnAfterIt() throws {
        let harness = try Harness(policy: nil)
        let (backend, _) = try harness.forwarding()
        var large = ByteBuffer()
        FrontendMessageEncoder.query("SELECT '" + String(repeating: "x", count: 600_000) + "'", into: &large)
        var sync = ByteBuffer()
        FrontendMessageEncoder.sync(into: &sync)
        // The message arrives in 64 KiB reads, the Sync right behind its last byte.
        var stream = large
        stream.writeImmutableBuffer(sync)
        var sent = ByteBuffer()
        while stream.readableBytes > 0 {
            try harness.send(stream.readSlice(length: min(65_536, stream.readableBytes))!)
            var part = try harness.written(to: backend)
            #expect(harness.handler.machine.splitter.bufferedByteCount < DispatchMachine.streamThreshold)
            sent.writeBuffer(&part)
        }
        #expect(sent.readableBytes == large.readableBytes + sync.readableBytes)
        #expect(sent.getSlice(at: 0, length: large.readableBytes) == large)
        #expect(!harness.handler.machine.splitter.isStreaming)
    }

    @Test func aClientLeavingMidStreamClosesTheHalfWrittenBackend() throws {
        let harness = try Harness(policy: nil)
        let (backend, connection) = try harness.forwarding()
        var large = ByteBuffer()
        FrontendMessageEncoder.query("SELECT '" + String(repeating: "y", count: 400_000) + "'", into: &large)
        try harness.send(large.getSlice(at: 0, length: 300_000)!)
        #expect(try harness.written(to: backend).readableBytes == 300_000)
        try harness.channel.close().wait()
        harness.loop.run()
        #expect(connection.isClosed, "a backend holding half a message is never reused")
    }

    // MARK: A backend that goes away

    /// The backend's FATAL then its close, while the client waits for nothing.
    func backendLeaves(_ harness: Harness, _ connection: BackendConnection) {
        var fatal = ByteBuffer()
        BackendMessageEncoder.errorResponse(
            ErrorFields(severity: .fatal, sqlState: "57P01", message: "terminating connection due to administrator command"),
            into: &fatal)
        connection.received(fatal)
        harness.handler.backendDidFinishReading(connection)
        harness.handler.backend(connection, didClose: nil)
        harness.loop.run()
    }

    /// The SQLSTATEs of the ErrorResponses in `bytes`, in order.
    func errorCodes(_ bytes: ByteBuffer) -> [String?] {
        var bytes = bytes
        var codes: [String?] = []
        while bytes.readableBytes >= 5 {
            let type = bytes.readInteger(as: UInt8.self)!
            let length = Int(bytes.readInteger(as: Int32.self)!)
            let body = bytes.readSlice(length: length - 4)!
            if type == UInt8(ascii: "E") { codes.append(ErrorFields.decode(body: body).sqlState) }
        }
        return codes
    }

    @Test func anIdleSessionKeepsItsFatalUntilTheClientSpeaks() throws {
        let harness = try Harness(policy: nil)
        let (_, connection) = try harness.forwarding()
        backendLeaves(harness, connection)
        #expect(try harness.received().readableBytes == 0, "sent now, it could land behind the last reply")
        #expect(harness.channel.isActive)
        var query = ByteBuffer()
        FrontendMessageEncoder.query("SELECT 1", into: &query)
        try harness.send(query)
        #expect(errorCodes(try harness.received()) == ["57P01", "08006"])
        #expect(!harness.channel.isActive)
    }

    @Test func anIdleSessionsFatalGoesOutAfterAWhileAnyway() throws {
        let harness = try Harness(policy: nil)
        let (_, connection) = try harness.forwarding()
        backendLeaves(harness, connection)
        harness.loop.advanceTime(by: ClientSessionMachine.idleFatalDelay)
        #expect(errorCodes(try harness.received()) == ["57P01", "08006"])
        #expect(!harness.channel.isActive)
    }

    @Test func anErrorAnsweringAQueryInOneReadWithItsReadyForQueryGoesOutAtOnce() throws {
        let harness = try Harness(policy: nil)
        let (_, connection) = try harness.forwarding()
        var query = ByteBuffer()
        FrontendMessageEncoder.query("CREATE TEMP TABLE t (i int)", into: &query)
        try harness.send(query)
        var reply = ByteBuffer()
        BackendMessageEncoder.errorResponse(
            ErrorFields(severity: .error, sqlState: "25006", message: "cannot execute CREATE TABLE in a read-only transaction"),
            into: &reply)
        BackendMessageEncoder.readyForQuery(.failed, into: &reply)
        connection.received(reply)
        harness.handler.backendDidFinishReading(connection)
        #expect(try harness.received() == reply)
        #expect(harness.channel.isActive)
    }

    @Test func aClientWaitingForAReplyGetsTheFatalAtOnce() throws {
        let harness = try Harness(policy: nil)
        let (_, connection) = try harness.forwarding()
        var query = ByteBuffer()
        FrontendMessageEncoder.query("SELECT pg_sleep(10)", into: &query)
        try harness.send(query)
        backendLeaves(harness, connection)
        #expect(errorCodes(try harness.received()) == ["57P01", "08006"])
        #expect(!harness.channel.isActive)
    }

    @Test func aClosedSessionIsFreed() throws {
        weak var handler: ClientSessionHandler?
        try {
            let harness = try Harness(policy: nil)
            _ = try harness.forwarding()
            handler = harness.handler
            try harness.channel.close().wait()
            harness.loop.run()
        }()
        #expect(handler == nil, "the handler and its context kept each other alive")
    }
}

