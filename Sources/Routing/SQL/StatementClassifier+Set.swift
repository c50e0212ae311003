/// `SET`, `RESET` and `SHOW`.
extension StatementClassifier {
    /// Every form of `SET`, with Pgpool-II's exceptions to "SET goes to both":
    /// `transaction_read_only` off, `READ WRITE` and `SERIALIZABLE` go to the primary.
    func classifySet() -> StatementClassification {
        var i = view.lowerBound + 1
        if view.isWord(i, "constraints") { return primary(.setConstraints) }
        var isLocal = false
        if view.isWord(i, "local") {
            isLocal = true
            i += 1
        } else if view.isWord(i, "session"), !view.isWord(i + 1, "characteristics"),
            !view.isWord(i + 1, "authorization")
        {
            i += 1
        }

        if view.isWord(i, "transaction") {
            if view.isWord(i + 1, "snapshot") {
                let snapshot = SetStatement(parameter: "transaction snapshot", values: values(from: i + 2), isLocal: isLocal)
                return both(.set(snapshot))
            }
            return classifySetTransaction(parameter: "transaction", modesFrom: i + 1, isLocal: isLocal)
        }
        if view.isWord(i, "session"), view.isWord(i + 1, "characteristics") {
            let modesStart = skipping(["as", "transaction"], from: i + 2)
            return classifySetTransaction(parameter: "session characteristics", modesFrom: modesStart, isLocal: isLocal)
        }

        let parameter: String
        var valueStart: Int
        if view.isWord(i, "time"), view.isWord(i + 1, "zone") {
            parameter = "timezone"
            valueStart = i + 2
        } else if view.isWord(i, "session"), view.isWord(i + 1, "authorization") {
            parameter = "session_authorization"
            valueStart = i + 2
        } else if view.isWord(i, "xml"), view.isWord(i + 1, "option") {
            parameter = "xmloption"
            valueStart = i + 2
        } else if view.isWord(i, "schema") {
            parameter = "search_path"
            valueStart = i + 1
        } else if view.isWord(i, "names") {
            parameter = "client_encoding"
            valueStart = i + 1
        } else if view.isWord(i, "role") || view.isWord(i, "catalog") {
            parameter = view.name(at: i)
            valueStart = i + 1
        } else if let found = qualifiedName(at: i) {
            parameter = found.name.description
            valueStart = found.next
            if view.isWord(valueStart, "to") || view.isOperator(valueStart, ASCII.equals) {
                valueStart += 1
            } else if view.isWord(valueStart, "from"), view.isWord(valueStart + 1, "current") {
                return both(.set(SetStatement(parameter: parameter, isLocal: isLocal, isDefault: true)))
            }
        } else {
            return unknown()
        }

        if view.isWord(valueStart, "default"), valueStart + 1 == view.upperBound {
            return both(.set(SetStatement(parameter: parameter, isLocal: isLocal, isDefault: true)))
        }
        let setValues = values(from: valueStart)
        var result = both(.set(SetStatement(parameter: parameter, values: setValues, isLocal: isLocal)))
        switch parameter {
        case "transaction_read_only":
            if setValues.contains(where: Self.isFalse) { result.destination = .primary }
            result.setsTransactionReadOnly = setValues.contains(where: Self.isTrue)
        case "transaction_isolation", "default_transaction_isolation":
            if setValues.contains(where: { Self.equalsIgnoringCase($0, "serializable") }) {
                result.destination = .primary
                result.setsSerializable = true
            }
        default:
            break
        }
        return result
    }

    /// `SET TRANSACTION modes` and `SET SESSION CHARACTERISTICS AS TRANSACTION modes`.
    private func classifySetTransaction(parameter: String, modesFrom index: Int, isLocal: Bool)
        -> StatementClassification
    {
        let modes = transactionModes(from: index)
        var result = both(.set(SetStatement(parameter: parameter, isLocal: isLocal)))
        result.transactionModes = modes
        if modes.isolationLevel == .serializable {
            result.destination = .primary
            result.setsSerializable = true
        } else if modes.readOnly == false {
            result.destination = .primary
        }
        result.setsTransactionReadOnly = modes.readOnly == true
        return result
    }

    /// `RESET name` / `RESET ALL`: to both nodes, like `SET`.
    func classifyReset() -> StatementClassification {
        both(.reset(parameter: words(from: view.lowerBound + 1)))
    }

    /// `SHOW name`: a read Pgpool-II load-balances.
    func classifyShow() -> StatementClassification {
        var result = StatementClassification(
            kind: .show(parameter: words(from: view.lowerBound + 1)), destination: .either)
        result.isSelectQuery = true
        return result
    }

    /// The comma-separated values of a `SET` from `index`: literals unquoted, words in lower
    /// case, signed numbers as written.
    func values(from index: Int) -> [String] {
        var result: [String] = []
        var i = index
        var sign = ""
        while view.contains(i) {
            switch view.tokens[i].kind {
            case .string:
                result.append(literal(at: i))
            case .identifier, .quotedIdentifier:
                var name = view.name(at: i)
                while view.isKind(i + 1, .dot), view.isName(i + 2) {
                    name += "." + view.name(at: i + 2)
                    i += 2
                }
                result.append(name)
            case .number:
                result.append(sign + view.text(at: i))
                sign = ""
            case .operator:
                if view.isOperator(i, ASCII.minus) { sign = "-" }
            default:
                break
            }
            i += 1
        }
        return result
    }

    /// The names from `index` to the end, joined with spaces (dots kept).
    private func words(from index: Int) -> String {
        var text = ""
        var i = index
        while view.contains(i) {
            if view.isName(i) {
                if !text.isEmpty, !view.isKind(i - 1, .dot) { text += " " }
                text += view.name(at: i)
            } else if view.isKind(i, .dot) {
                text += "."
            }
            i += 1
        }
        return text
    }

    /// `off`, `f`, `false` or zero: the values Pgpool-II reads as `transaction_read_only` off.
    static func isFalse(_ value: String) -> Bool {
        equalsIgnoringCase(value, "off") || equalsIgnoringCase(value, "f") || equalsIgnoringCase(value, "false")
            || isNumber(value, zero: true)
    }

    /// `on`, `t`, `true` or a non-zero number.
    static func isTrue(_ value: String) -> Bool {
        equalsIgnoringCase(value, "on") || equalsIgnoringCase(value, "t") || equalsIgnoringCase(value, "true")
            || isNumber(value, zero: false)
    }

    private static func isNumber(_ value: String, zero: Bool) -> Bool {
        var sawDigit = false
        var nonZero = false
        for byte in value.utf8 {
            if ASCII.isDigit(byte) {
                sawDigit = true
                if byte != 0x30 { nonZero = true }
            } else if byte != ASCII.minus, byte != ASCII.plus, byte != ASCII.dot {
                return false
            }
        }
        return sawDigit && nonZero != zero
    }

    static func equalsIgnoringCase(_ value: String, _ lowercase: StaticString) -> Bool {
        let utf8 = value.utf8
        guard utf8.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        var k = 0
        for byte in utf8 {
            if ASCII.lower(byte) != expected[k] { return false }
            k += 1
        }
        return true
    }
}
