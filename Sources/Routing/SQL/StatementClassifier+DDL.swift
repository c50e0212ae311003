/// `CREATE`, `ALTER` and `DROP`: always to the primary. The object type, temporary/unlogged
/// flags and table names are kept for temporary-table tracing and `dml_adaptive`.
extension StatementClassifier {
    private static let tableLikeObjects: Set<String> = [
        "table", "foreign table", "view", "materialized view", "sequence",
    ]

    func classifyDDL(command: String) -> StatementClassification {
        var i = view.lowerBound + 1
        var info = DDLStatement(command: command)
        if view.isWord(i, "or"), view.isWord(i + 1, "replace") { i += 2 }
        // Modifiers before the object type.
        while view.contains(i) {
            if view.isWord(i, "temp") || view.isWord(i, "temporary") {
                info.isTemporary = true
            } else if view.isWord(i, "local") || view.isWord(i, "global") {
                // LOCAL / GLOBAL TEMP
            } else if view.isWord(i, "unlogged") {
                info.isUnlogged = true
            } else if !(view.isWord(i, "unique") || view.isWord(i, "trusted") || view.isWord(i, "procedural")
                || view.isWord(i, "recursive") || view.isWord(i, "constraint"))
            {
                break
            }
            i += 1
        }
        guard view.isKind(i, .identifier) else { return primary(.ddl(info)) }
        var objectType = view.name(at: i)
        i += 1
        if objectType == "materialized" || objectType == "foreign", view.isKind(i, .identifier) {
            objectType += " " + view.name(at: i)
            i += 1
        }
        info.objectType = objectType
        var result = primary(.ddl(info))
        guard Self.tableLikeObjects.contains(objectType) else { return result }

        if view.isWord(i, "if") {
            i = skipping(["if", "not", "exists"], from: i)
        }
        if view.isWord(i, "only") { i += 1 }
        while let found = qualifiedName(at: i) {
            result.relations.appendNew(found.name)
            result.writtenRelations.appendNew(found.name)
            i = found.next
            // DROP lists several names; CREATE and ALTER name one.
            guard command == "drop", view.isKind(i, .comma) else { break }
            i += 1
        }
        return result
    }
}
