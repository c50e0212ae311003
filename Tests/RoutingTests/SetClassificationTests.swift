import Routing
import Testing

/// §1.3 rows for SET, RESET, DISCARD and SHOW.
@Suite("SET, RESET, DISCARD, SHOW")
struct SetClassificationTests {
    @Test(arguments: [
        "SET transaction_read_only = off",
        "SET transaction_read_only TO OFF",
        "SET transaction_read_only = 'off'",
        "SET transaction_read_only = f",
        "SET transaction_read_only = 'F'",
        "SET transaction_read_only = false",
        "SET transaction_read_only = FALSE",
        "SET transaction_read_only = 0",
        "SET LOCAL transaction_read_only = off",
        "SET SESSION transaction_read_only TO false",
        "set TRANSACTION_READ_ONLY = off",
    ])
    func transactionReadOnlyOffGoesToPrimary(query: String) {
        let c = classify(query)
        #expect(c.destination == .primary)
        #expect(!c.setsTransactionReadOnly)
    }

    @Test(arguments: [
        "SET transaction_read_only = on",
        "SET transaction_read_only = 't'",
        "SET transaction_read_only = true",
        "SET transaction_read_only = 1",
    ])
    func transactionReadOnlyOnGoesToBoth(query: String) {
        let c = classify(query)
        #expect(c.destination == .both)
        #expect(c.setsTransactionReadOnly)
    }

    @Test func transactionReadOnlyDefaultGoesToBoth() {
        let c = classify("SET transaction_read_only TO DEFAULT")
        #expect(c.destination == .both)
        #expect(c.kind == .set(SetStatement(parameter: "transaction_read_only", isDefault: true)))
    }

    @Test(arguments: [
        "SET TRANSACTION READ WRITE",
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    ])
    func readWriteTransactionsGoToPrimary(query: String) {
        let c = classify(query)
        #expect(c.destination == .primary)
        #expect(c.transactionModes?.readOnly == false)
        #expect(!c.setsSerializable)
    }

    @Test(arguments: [
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE",
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET transaction_isolation = 'serializable'",
        "SET transaction_isolation TO serializable",
        "SET default_transaction_isolation = 'SERIALIZABLE'",
        "SET SESSION default_transaction_isolation TO 'serializable'",
    ])
    func serializableGoesToPrimaryAndMarksTheSession(query: String) {
        let c = classify(query)
        #expect(c.destination == .primary)
        #expect(c.setsSerializable)
    }

    @Test func readOnlyTransactionSettings() {
        let setTransaction = classify("SET TRANSACTION READ ONLY")
        #expect(setTransaction.destination == .both)
        #expect(setTransaction.setsTransactionReadOnly)
        #expect(setTransaction.kind == .set(SetStatement(parameter: "transaction")))
        #expect(setTransaction.transactionModes == TransactionModes(readOnly: true))
        let characteristics = classify("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        #expect(characteristics.destination == .both)
        #expect(characteristics.setsTransactionReadOnly)
        #expect(characteristics.kind == .set(SetStatement(parameter: "session characteristics")))
    }

    @Test(arguments: [
        ("SET search_path TO myschema, public", SetStatement(parameter: "search_path", values: ["myschema", "public"])),
        ("SET search_path = \"My Schema\"", SetStatement(parameter: "search_path", values: ["My Schema"])),
        ("set statement_timeout = 5000", SetStatement(parameter: "statement_timeout", values: ["5000"])),
        ("SET extra_float_digits = -1", SetStatement(parameter: "extra_float_digits", values: ["-1"])),
        ("SET LOCAL work_mem = '64MB'", SetStatement(parameter: "work_mem", values: ["64MB"], isLocal: true)),
        ("SET application_name = 'it''s'", SetStatement(parameter: "application_name", values: ["it's"])),
        ("SET TIME ZONE 'UTC'", SetStatement(parameter: "timezone", values: ["UTC"])),
        ("SET TIME ZONE LOCAL", SetStatement(parameter: "timezone", values: ["local"])),
        ("SET SCHEMA 'app'", SetStatement(parameter: "search_path", values: ["app"])),
        ("SET NAMES 'UTF8'", SetStatement(parameter: "client_encoding", values: ["UTF8"])),
        ("SET ROLE admin", SetStatement(parameter: "role", values: ["admin"])),
        ("SET SESSION AUTHORIZATION alice", SetStatement(parameter: "session_authorization", values: ["alice"])),
        ("SET XML OPTION DOCUMENT", SetStatement(parameter: "xmloption", values: ["document"])),
        ("SET myapp.user_id = 42", SetStatement(parameter: "myapp.user_id", values: ["42"])),
        ("SET default_transaction_read_only = on", SetStatement(parameter: "default_transaction_read_only", values: ["on"])),
        ("SET default_transaction_isolation = 'repeatable read'",
         SetStatement(parameter: "default_transaction_isolation", values: ["repeatable read"])),
        ("SET work_mem FROM CURRENT", SetStatement(parameter: "work_mem", isDefault: true)),
        ("SET work_mem TO DEFAULT", SetStatement(parameter: "work_mem", isDefault: true)),
        ("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'",
         SetStatement(parameter: "transaction snapshot", values: ["00000003-0000001B-1"])),
    ])
    func otherSetsGoToBoth(query: String, set: SetStatement) {
        let c = classify(query)
        #expect(c.kind == .set(set))
        #expect(c.destination == .both)
        #expect(!c.setsSerializable)
    }

    @Test func escapeStringValuesAreUnescaped() {
        #expect(classify(#"SET application_name = E'a\'b'"#).kind == .set(SetStatement(parameter: "application_name", values: ["a'b"])))
        #expect(
            classify(#"SET application_name = 'a\'b'"#, standardConformingStrings: false).kind
                == .set(SetStatement(parameter: "application_name", values: ["a'b"])))
    }

    @Test func setConstraintsGoesToPrimary() {
        let c = classify("SET CONSTRAINTS ALL DEFERRED")
        #expect(c.kind == .setConstraints)
        #expect(c.destination == .primary)
    }

    @Test(arguments: [
        ("RESET ALL", "all"),
        ("RESET search_path", "search_path"),
        ("reset Role", "role"),
        ("RESET myapp.x", "myapp.x"),
        ("RESET TIME ZONE", "time zone"),
    ])
    func resetGoesToBoth(query: String, parameter: String) {
        let c = classify(query)
        #expect(c.kind == .reset(parameter: parameter))
        #expect(c.destination == .both)
    }

    @Test(arguments: ["DISCARD ALL", "DISCARD PLANS", "discard temp", "DISCARD SEQUENCES"])
    func discardGoesToBoth(query: String) {
        let c = classify(query)
        #expect(c.kind == .discard)
        #expect(c.destination == .both)
    }

    @Test(arguments: [
        ("SHOW search_path", "search_path"),
        ("SHOW ALL", "all"),
        ("show TIME ZONE", "time zone"),
        ("SHOW TRANSACTION ISOLATION LEVEL", "transaction isolation level"),
        ("SHOW pool_nodes", "pool_nodes"),
        ("SHOW myapp.setting", "myapp.setting"),
    ])
    func showIsALoadBalanceableRead(query: String, parameter: String) {
        let c = classify(query)
        #expect(c.kind == .show(parameter: parameter))
        #expect(c.destination == .either)
        #expect(c.isSelectQuery)
    }
}
