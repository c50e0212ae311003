import NIOCore
import Testing

@testable import Proxy

@Suite struct AdminCommandTests {
    @Test(arguments: [
        ("SHOW POOL_NODES", AdminCommand.show(.nodes)),
        ("  show pool_version ;", .show(.version)),
        ("Show Pool_Backend_Stats;;", .show(.backendStats)),
        ("PGPOOL SHOW port", .pgpoolShow("port")),
        ("pgpool show ALL", .pgpoolShow("all")),
        ("PGPOOL SHOW \"Port\"", .pgpoolShow("Port")),
        ("PGPOOL SET client_idle_limit = 10", .pgpoolSet("client_idle_limit", "10")),
        ("pgpool set client_idle_limit=10", .pgpoolSet("client_idle_limit", "10")),
        ("pgpool set client_idle_limit TO DEFAULT", .pgpoolSet("client_idle_limit", nil)),
        ("pgpool set log_min_messages to 'debug1'", .pgpoolSet("log_min_messages", "debug1")),
        ("PGPOOL RESET ALL", .pgpoolReset("all")),
    ])
    func parses(text: String, command: AdminCommand) {
        #expect(AdminCommand.parse(text) == command)
    }

    @Test(arguments: ["SHOW port", "SHOW POOL_NODES; SELECT 1", "SELECT 'SHOW POOL_NODES'", "pgpool", "pgpool set x",
                      "PGPOOL SHOW a b", "show pool_cache"])
    func ignores(text: String) {
        #expect(AdminCommand.parse(text) == nil)
    }

    @Test func quickTest() {
        #expect(AdminCommand.mightBe(ByteBuffer(string: "  show pool_nodes")))
        #expect(AdminCommand.mightBe(ByteBuffer(string: "PGPOOL SHOW x")))
        #expect(!AdminCommand.mightBe(ByteBuffer(string: "SELECT 1")))
        #expect(!AdminCommand.mightBe(ByteBuffer(string: "")))
    }

    @Test func tableAnswerOnTheWire() {
        var out = ByteBuffer()
        AdminCommandAnswer.table(columns: ["a", "b"], rows: [["1", "x"]]).write(into: &out)
        #expect(out.readInteger(as: UInt8.self) == UInt8(ascii: "T"))
        let length = Int(out.readInteger(as: Int32.self)!)
        out.moveReaderIndex(forwardBy: length - 4)
        #expect(out.readInteger(as: UInt8.self) == UInt8(ascii: "D"))
        out.moveReaderIndex(forwardBy: Int(out.readInteger(as: Int32.self)!) - 4)
        #expect(out.readInteger(as: UInt8.self) == UInt8(ascii: "C"))
        out.moveReaderIndex(forwardBy: 4)
        #expect(out.readNullTerminatedString() == "SELECT 1")
    }
}
