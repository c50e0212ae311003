import Routing
import Testing

/// §1.3 rows for transaction control.
@Suite("Transaction control")
struct TransactionClassificationTests {
    @Test(arguments: [
        ("BEGIN", TransactionModes()),
        ("begin work", TransactionModes()),
        ("BEGIN TRANSACTION", TransactionModes()),
        ("START TRANSACTION", TransactionModes()),
        ("BEGIN READ ONLY", TransactionModes(readOnly: true)),
        ("BEGIN READ WRITE", TransactionModes(readOnly: false)),
        ("START TRANSACTION READ WRITE", TransactionModes(readOnly: false)),
        ("BEGIN ISOLATION LEVEL SERIALIZABLE", TransactionModes(isolationLevel: .serializable)),
        ("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", TransactionModes(isolationLevel: .repeatableRead, readOnly: true)),
        ("BEGIN ISOLATION LEVEL READ COMMITTED", TransactionModes(isolationLevel: .readCommitted)),
        ("BEGIN ISOLATION LEVEL READ UNCOMMITTED", TransactionModes(isolationLevel: .readUncommitted)),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE",
         TransactionModes(isolationLevel: .serializable, readOnly: true, deferrable: true)),
        ("BEGIN NOT DEFERRABLE", TransactionModes(deferrable: false)),
    ])
    func transactionStartGoesToBoth(query: String, modes: TransactionModes) {
        let c = classify(query)
        #expect(c.kind == .transaction(.begin(modes)))
        #expect(c.transactionModes == modes)
        #expect(c.destination == .both)
        #expect(c.isTransactionStart)
    }

    @Test func readWriteAndSerializableStartsSendPlainBeginToStandby() {
        #expect(classify("BEGIN READ WRITE").sendsPlainBeginToStandby)
        #expect(classify("START TRANSACTION READ WRITE").sendsPlainBeginToStandby)
        #expect(classify("BEGIN ISOLATION LEVEL SERIALIZABLE").sendsPlainBeginToStandby)
        #expect(classify("BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY").sendsPlainBeginToStandby)
        #expect(!classify("BEGIN").sendsPlainBeginToStandby)
        #expect(!classify("BEGIN READ ONLY").sendsPlainBeginToStandby)
        #expect(!classify("BEGIN ISOLATION LEVEL REPEATABLE READ").sendsPlainBeginToStandby)
    }

    @Test(arguments: [
        ("COMMIT", TransactionCommand.commit(chain: false)),
        ("commit work", .commit(chain: false)),
        ("COMMIT TRANSACTION AND CHAIN", .commit(chain: true)),
        ("COMMIT AND NO CHAIN", .commit(chain: false)),
        ("END", .commit(chain: false)),
        ("END TRANSACTION", .commit(chain: false)),
        ("ROLLBACK", .rollback(chain: false)),
        ("ROLLBACK WORK AND CHAIN", .rollback(chain: true)),
        ("ABORT", .rollback(chain: false)),
        ("abort transaction", .rollback(chain: false)),
    ])
    func commitAndRollbackGoToBoth(query: String, command: TransactionCommand) {
        let c = classify(query)
        #expect(c.kind == .transaction(command))
        #expect(c.destination == .both)
        #expect(c.isTransactionEnd)
    }

    @Test(arguments: [
        ("SAVEPOINT sp1", TransactionCommand.savepoint("sp1")),
        ("SAVEPOINT \"Sp\"", .savepoint("Sp")),
        ("RELEASE SAVEPOINT sp1", .releaseSavepoint("sp1")),
        ("RELEASE sp1", .releaseSavepoint("sp1")),
        ("RELEASE savepoint", .releaseSavepoint("savepoint")),
        ("ROLLBACK TO SAVEPOINT sp1", .rollbackToSavepoint("sp1")),
        ("ROLLBACK TO sp1", .rollbackToSavepoint("sp1")),
        ("ROLLBACK WORK TO SAVEPOINT SP1", .rollbackToSavepoint("sp1")),
        ("ROLLBACK TRANSACTION TO sp1", .rollbackToSavepoint("sp1")),
    ])
    func savepointsGoToBoth(query: String, command: TransactionCommand) {
        let c = classify(query)
        #expect(c.kind == .transaction(command))
        #expect(c.destination == .both)
        #expect(!c.isTransactionEnd)
    }

    @Test(arguments: [
        ("PREPARE TRANSACTION 'gid-1'", TransactionCommand.prepareTransaction("gid-1")),
        ("COMMIT PREPARED 'gid-1'", .commitPrepared("gid-1")),
        ("ROLLBACK PREPARED 'it''s'", .rollbackPrepared("it's")),
    ])
    func twoPhaseCommitGoesToPrimary(query: String, command: TransactionCommand) {
        let c = classify(query)
        #expect(c.kind == .transaction(command))
        #expect(c.destination == .primary)
    }

    @Test func startWithoutTransactionIsNotUnderstood() {
        #expect(classify("START foo").kind == .unknown)
        #expect(classify("START foo").destination == .primary)
    }
}
