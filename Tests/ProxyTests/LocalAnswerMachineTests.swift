import NIOCore
import PostgresWire
import Testing
@testable import Proxy

@Suite("Local admin answers")
struct LocalAnswerMachineTests {
    let nodes = AdminCommandAnswer.table(columns: ["node_id", "status"], rows: [["0", "up"], ["1", "up"]])

    /// The message types of `bytes`, in order.
    func types(_ bytes: ByteBuffer) -> String {
        var bytes = bytes
        var result = ""
        while bytes.readableBytes >= 5 {
            let type = bytes.readInteger(as: UInt8.self)!
            let length = Int(bytes.readInteger(as: Int32.self)!)
            bytes.moveReaderIndex(forwardBy: length - 4)
            result.append(Character(Unicode.Scalar(type)))
        }
        return result
    }

    @Test func aSimpleQueryIsInterceptedAndAnsweredWithATable() {
        var machine = LocalAnswerMachine()
        let show = query("show  pool_nodes")
        #expect(machine.intercepts(show.type) { show })
        let select = query("SELECT 1")
        #expect(!machine.intercepts(select.type) { select })
        #expect(machine.commands(in: [show]) == [.show(.nodes)])
        var applied: [(AdminCommand, AdminCommandAnswer)] = []
        let out = machine.answer([show], results: [(.show(.nodes), nodes)], status: .inTransaction, applied: &applied)
        // RowDescription, two DataRows, CommandComplete, ReadyForQuery.
        #expect(types(out) == "TDDCZ")
        #expect(applied.count == 1)
    }

    @Test func anExtendedBatchIsAnsweredAsPostgreSQLWould() {
        var machine = LocalAnswerMachine()
        let describe = message(FrontendMessageType.describe) {
            $0.writeInteger(UInt8(ascii: "S"))
            $0.writeNullTerminatedString("s")
        }
        let batch = [parse("s", "PGPOOL SHOW port"), describe, bind("", "s"), execute(""), sync]
        #expect(machine.intercepts(batch[0].type) { batch[0] })
        let commands = machine.commands(in: batch)
        #expect(commands == [.pgpoolShow("port")])
        let port = AdminCommandAnswer.table(columns: ["port"], rows: [["9999"]])
        var applied: [(AdminCommand, AdminCommandAnswer)] = []
        let out = machine.answer(batch, results: [(.pgpoolShow("port"), port)], status: .idle, applied: &applied)
        // ParseComplete, ParameterDescription + RowDescription, BindComplete, DataRow,
        // CommandComplete, ReadyForQuery.
        #expect(types(out) == "1tT2DCZ")
        // The statement is remembered: a later Bind of it is intercepted too.
        let again = bind("", "s")
        #expect(machine.intercepts(again.type) { again })
        // An ordinary Parse of the same name replaces it.
        let ordinary = parse("s", "SELECT 1")
        #expect(!machine.intercepts(ordinary.type) { ordinary })
        #expect(machine.statements["s"] == nil)
    }

    @Test func anOrdinaryStatementInAnAdminBatchFailsUpToTheSync() {
        var machine = LocalAnswerMachine()
        let batch = [parse("", "SELECT 1"), bind("", ""), execute(""), sync]
        var applied: [(AdminCommand, AdminCommandAnswer)] = []
        let out = machine.answer(batch, results: [], status: .idle, applied: &applied)
        #expect(types(out) == "EZ")
        #expect(applied.isEmpty)
    }

    @Test func pgpoolSetIsReportedAsApplied() {
        var machine = LocalAnswerMachine()
        let set = query("PGPOOL SET client_idle_limit = 5")
        #expect(machine.intercepts(set.type) { set })
        guard let command = machine.commands(in: [set]).first else {
            Issue.record("not a command")
            return
        }
        var applied: [(AdminCommand, AdminCommandAnswer)] = []
        let out = machine.answer([set], results: [(command, .done(tag: "SET"))], status: .idle, applied: &applied)
        #expect(types(out) == "CZ")
        #expect(applied.map(\.0) == [command])
    }
}
