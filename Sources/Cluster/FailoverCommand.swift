/// The values of a failover, failback or follow-primary command's placeholders, as Pgpool-II
/// fills them in.
public struct FailoverPlaceholders: Sendable, Equatable {
    /// `%d %h %p %D`: the node that failed (or is attached, or must follow).
    public var node: NodeInfo
    /// `%m %H %r %R`: the new main node (the new primary for follow_primary_command).
    public var newMain: NodeInfo?
    /// `%M`: the main node before the change.
    public var oldMainID: Int?
    /// `%P %N %S`: the primary before the change.
    public var oldPrimary: NodeInfo?

    public init(node: NodeInfo, newMain: NodeInfo?, oldMainID: Int?, oldPrimary: NodeInfo?) {
        self.node = node
        self.newMain = newMain
        self.oldMainID = oldMainID
        self.oldPrimary = oldPrimary
    }

    /// `template` with every placeholder replaced. Missing nodes give `-1` for ids and empty
    /// text for the rest; an unknown `%x` is dropped, `%%` is a literal `%`.
    public func expand(_ template: String) -> String {
        var result = ""
        var iterator = template.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else {
                result.append(character)
                continue
            }
            guard let code = iterator.next() else { break }
            result += value(of: code) ?? ""
        }
        return result
    }

    private func value(of code: Character) -> String? {
        switch code {
        case "d": "\(node.id)"
        case "h": node.host
        case "p": "\(node.port)"
        case "D": node.dataDirectory
        case "m": "\(newMain?.id ?? -1)"
        case "H": newMain?.host ?? ""
        case "r": newMain.map { "\($0.port)" } ?? ""
        case "R": newMain?.dataDirectory ?? ""
        case "M": "\(oldMainID ?? -1)"
        case "P": "\(oldPrimary?.id ?? -1)"
        case "N": oldPrimary?.host ?? ""
        case "S": oldPrimary.map { "\($0.port)" } ?? ""
        case "%": "%"
        default: nil
        }
    }
}
