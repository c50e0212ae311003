import Foundation
import Testing
@testable import Etcd

/// Answers as etcd 3.4's gateway writes them.
@Suite struct EtcdGatewayTests {
    let decoder = JSONDecoder()

    @Test func transactionAnswers() throws {
        let won = #"{"header":{"revision":"2"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"2"}}}]}"#
        let lost = #"{"header":{"revision":"2"},"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"L3NwL2xlYWRlcg==","create_revision":"2","mod_revision":"2","version":"1","value":"bWU=","lease":"3761247019528546823"}],"count":"1"}}]}"#
        #expect(try decoder.decode(EtcdGateway.TransactionAnswer.self, from: Data(won.utf8)).succeeded == true)
        let answer = try decoder.decode(EtcdGateway.TransactionAnswer.self, from: Data(lost.utf8))
        #expect(answer.succeeded == nil)
        #expect(answer.ranged == [EtcdGateway.KeyValue(key: "/sp/leader", value: "me", lease: "3761247019528546823", modRevision: 2)])
    }

    @Test func keepaliveWithoutTTLMeansTheLeaseIsGone() throws {
        let alive = #"{"result":{"header":{"revision":"1"},"ID":"3761247019528546823","TTL":"5"}}"#
        let gone = #"{"result":{"header":{"revision":"2"},"ID":"12345"}}"#
        #expect(try decoder.decode(EtcdGateway.KeepaliveAnswer.self, from: Data(alive.utf8)).ttl == 5)
        #expect(try decoder.decode(EtcdGateway.KeepaliveAnswer.self, from: Data(gone.utf8)).ttl == nil)
    }

    @Test func watchMessages() throws {
        let put = #"{"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"L3NwL3g=","create_revision":"3","mod_revision":"3","version":"1","value":"bWU="}}]}}"#
        let delete = #"{"result":{"header":{"revision":"4"},"events":[{"type":"DELETE","kv":{"key":"L3NwL2xlYWRlcg==","mod_revision":"4"}}]}}"#
        let created = #"{"result":{"header":{"revision":"2"},"created":true}}"#
        #expect(try decoder.decode(EtcdGateway.WatchMessage.self, from: Data(put.utf8)).changes
            == [.put(.init(key: "/sp/x", value: "me", modRevision: 3))])
        #expect(try decoder.decode(EtcdGateway.WatchMessage.self, from: Data(delete.utf8)).changes == [.delete(key: "/sp/leader")])
        #expect(try decoder.decode(EtcdGateway.WatchMessage.self, from: Data(created.utf8)).changes.isEmpty)
    }

    @Test func createIfAbsentTransactionIsWhatEtcdExpects() throws {
        let txn = EtcdGateway.Transaction(compare: [.absent("/sp/leader")], success: [.put("/sp/leader", "me", lease: "7")],
                                          failure: [.get("/sp/leader")])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(txn), as: UTF8.self)
        #expect(text == #"{"compare":[{"create_revision":"0","key":"L3NwL2xlYWRlcg==","result":"EQUAL","target":"CREATE"}],"failure":[{"request_range":{"key":"L3NwL2xlYWRlcg=="}}],"success":[{"request_put":{"key":"L3NwL2xlYWRlcg==","lease":"7","value":"bWU="}}]}"#)
    }
}
