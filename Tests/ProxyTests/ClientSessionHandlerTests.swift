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
            channel = EmbeddedChannel(handler: handler, loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
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
}
