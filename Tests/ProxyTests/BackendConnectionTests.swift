import NIOCore
import NIOEmbedded
import PostgresWire
import Testing
@testable import Proxy

/// A backend connection's writes, on NIO's EmbeddedChannel.
@Suite("Backend connection")
struct BackendConnectionTests {
    /// The startup packet of the connections these tests make.
    static let startup = StartupParameters(pairs: [("user", "alice"), ("database", "app")])

    /// A logged-in connection to node 0 for alice on `channel`, connected first.
    static func connection(on channel: EmbeddedChannel) throws -> BackendConnection {
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5432)).wait()
        return BackendConnection(
            channel: channel, node: BackendNode(id: 0, host: "127.0.0.1", port: 5432),
            key: PoolKey(nodeID: 0, startup: startup), authMethod: .trust,
            backendKey: BackendKey(processID: 7, secretKey: 7), parameters: ParameterStatusSet(),
            maxMessageLength: 1 << 30, now: .now())
    }

    static func connection() throws -> (EmbeddedChannel, BackendConnection) {
        let channel = EmbeddedChannel()
        return (channel, try connection(on: channel))
    }

    static func outbound(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var buffers: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { buffers.append(buffer) }
        return buffers
    }

    @Test func aHandBackWaitsUntilTheLastCancelInFlightIsDone() throws {
        let (_, connection) = try Self.connection()
        var givenBack = 0
        connection.whenNoCancelInFlight { givenBack += 1 }
        #expect(givenBack == 1, "nothing in flight: at once")
        connection.cancelSent()
        connection.cancelSent()
        connection.whenNoCancelInFlight { givenBack += 1 }
        #expect(givenBack == 1)
        connection.cancelDone()
        #expect(givenBack == 1, "one cancel is still in flight")
        connection.cancelDone()
        #expect(givenBack == 2)
        #expect(connection.cancelsInFlight == 0)
        connection.cancelSent()
        connection.cancelDone()
        #expect(givenBack == 2, "what ran is not run again")
    }

    @Test func writesBetweenTwoFlushesLeaveAsOneBufferInOrder() throws {
        let (channel, connection) = try Self.connection()
        connection.write(ByteBuffer(string: "Bind"))
        connection.write(ByteBuffer(string: "Execute"))
        connection.write(ByteBuffer(string: "Sync"))
        #expect(try Self.outbound(channel).isEmpty)
        connection.flush()
        #expect(try Self.outbound(channel) == [ByteBuffer(string: "BindExecuteSync")])
        connection.flush()
        #expect(try Self.outbound(channel).isEmpty)
        connection.write(ByteBuffer(string: "Query"))
        connection.flush()
        #expect(try Self.outbound(channel) == [ByteBuffer(string: "Query")])
    }

    @Test func terminateSendsWhatWasGatheredBeforeItsTerminate() throws {
        let (channel, connection) = try Self.connection()
        connection.write(ByteBuffer(string: "Sync"))
        connection.terminate()
        var terminate = ByteBuffer()
        FrontendMessageEncoder.terminate(into: &terminate)
        #expect(try Self.outbound(channel) == [ByteBuffer(string: "Sync"), terminate])
        #expect(connection.isClosed)
    }
}
