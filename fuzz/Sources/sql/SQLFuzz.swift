// SQL: the lexer, the statement splitter and the classifier (Pgpool-II's send_to_where) on any
// text, then the routing policy (RoutingSession) deciding each query of a session the way
// DispatchMachine asks it. Checks that tokens and statements stay inside the text and in order,
// that the byte and String entry points agree, that the classification cache's answer by query
// template is the text's own classification (also for the text with its digits changed, which
// keeps the template when they are in literals), and that decisions name real nodes.
//
// Input: one control byte (standard_conforming_strings and routing settings), then queries
// separated by NUL bytes (a Query message's text ends at its NUL).
import FuzzSupport
import Routing

struct Facts: CatalogFacts {
    /// Answers derived from the name, so an input always gets the same ones; nil sometimes
    /// (not known yet).
    func answer(_ name: QualifiedName, _ salt: Int) -> Bool? {
        switch (name.description.utf8.count + salt) % 3 {
        case 0: nil
        case 1: true
        default: false
        }
    }

    func isSystemCatalog(_ relation: QualifiedName) -> Bool? { answer(relation, 0) }
    func isTemporary(_ relation: QualifiedName) -> Bool? { answer(relation, 1) }
    func isUnlogged(_ relation: QualifiedName) -> Bool? { answer(relation, 2) }
    func isVolatile(_ function: QualifiedName) -> Bool? { answer(function, 0) }
}

func checkTokens(_ tokens: [SQLToken], length: Int) {
    var previousEnd = 0
    for token in tokens {
        check(token.start >= previousEnd, "tokens overlap or go backwards")
        check(token.start < token.end, "empty token \(token)")
        check(token.end <= length, "token past the end")
        previousEnd = token.end
    }
}

/// Another ASCII digit for a digit; any other byte as it is (the token boundaries stay).
func otherDigit(_ byte: UInt8) -> UInt8 {
    (0x30...0x39).contains(byte) ? 0x30 + (byte - 0x30 + 7) % 10 : byte
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(bytes(start, count))
    let control = input.byte()
    let standardConformingStrings = control & 1 == 0
    var settings = RoutingSettings()
    settings.statementLevelLoadBalance = control & 2 != 0
    settings.writeStickiness = WriteStickiness.allCases[Int(control >> 2) % WriteStickiness.allCases.count]
    settings.allowSQLComments = control & 0x20 != 0
    settings.ignoreLeadingWhiteSpace = control & 0x40 != 0
    settings.checkTempTable = control & 0x80 != 0 ? .trace : .catalog
    var session = RoutingSession(settings: settings, loadBalanceNode: 1)
    let nodes = RoutingNodes(primary: 0, readable: [1, 2])
    var picks = 0
    let cache = ClassificationCache(capacity: 8)

    for part in input.parts(separatedBy: 0) {
        let text = String(fuzz: part)
        let utf8 = Array(text.utf8)

        let tokens = SQLLexer.tokenize(text, standardConformingStrings: standardConformingStrings)
        checkTokens(tokens, length: utf8.count)

        let statements = SQLStatementSplitter.split(text, standardConformingStrings: standardConformingStrings)
        var previousEnd = 0
        for statement in statements {
            check(statement.byteRange.lowerBound >= previousEnd && statement.byteRange.upperBound <= utf8.count,
                  "statement range \(statement.byteRange) out of order or bounds")
            check(Array(statement.text.utf8) == Array(utf8[statement.byteRange]), "statement text is not its range")
            check(!statement.tokens.isEmpty, "a statement without tokens")
            checkTokens(statement.tokens, length: utf8.count)
            previousEnd = statement.byteRange.upperBound
        }

        let query = SQLClassifier.classify(query: text, standardConformingStrings: standardConformingStrings)
        let fromBytes = part.withUnsafeBytes {
            SQLClassifier.classify(utf8: $0, standardConformingStrings: standardConformingStrings)
        }
        if String(validating: part, as: UTF8.self) != nil {
            check(query == fromBytes, "classify(query:) and classify(utf8:) disagree")
        }
        check(query.statements.count == statements.count, "classifier and splitter count statements differently")
        for (statement, split) in zip(query.statements, statements) {
            check(statement.byteRange == split.byteRange, "classifier and splitter disagree on a statement's range")
            _ = statement.preparedStatementName
            _ = statement.cursorName
        }
        check(query.firstByte == utf8.first, "wrong first byte")
        for variant in [text, String(decoding: utf8.map(otherDigit), as: UTF8.self)] {
            check(cache.classify(query: variant) == SQLClassifier.classify(query: variant),
                  "the template cache's classification differs from the text's own")
        }
        _ = query.startsLikeSelect(ignoringLeadingWhiteSpace: true)

        let routed = session.route(query, text: text, nodes: nodes, facts: Facts(), pick: {
            picks += 1
            return picks % 3
        }, leastDelayed: { 2 })
        switch routed.decision {
        case .primary: break
        case .node(let node): check((0...2).contains(node), "routed to node \(node)")
        case .nodes(let list):
            check(!list.isEmpty && list.allSatisfy { (0...2).contains($0) } && Set(list).count == list.count,
                  "routed to nodes \(list)")
        }
        session.completed(query, routed: routed, succeeded: part.count % 2 == 0, facts: Facts())
        session.readyForQuery(session.writingTransaction ? .inTransaction : .idle)
    }
    return 0
}
