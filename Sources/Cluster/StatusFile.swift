import Foundation

/// `pgpool_status`: one line per node id (`up`, `down` or `unused`), so that a node an operator
/// or a failover took out stays out across a restart.
public enum StatusFile {
    /// The file's text for `snapshot`: lines for ids 0 through the highest configured id.
    public static func format(_ snapshot: ClusterState.Snapshot) -> String {
        guard let highest = snapshot.nodes.map(\.id).max() else { return "" }
        return (0...highest).map { id -> String in
            guard let node = snapshot.node(id) else { return "unused" }
            switch node.status {
            case .up, .waiting, .quarantine: return "up"
            case .down: return "down"
            case .unused: return "unused"
            }
        }.joined(separator: "\n") + "\n"
    }

    /// The statuses the file records, by node id; nil when the text is not a status file or
    /// marks no node up (Pgpool-II ignores such a file).
    public static func parse(_ text: String) -> [Int: NodeStatus]? {
        var statuses: [Int: NodeStatus] = [:]
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for (id, line) in lines.enumerated() where !line.isEmpty {
            switch line {
            case "up": statuses[id] = .up
            case "down": statuses[id] = .down
            case "unused": statuses[id] = .unused
            default: return nil
            }
        }
        return statuses.values.contains(.up) ? statuses : nil
    }

    /// Reads the statuses at `path`; nil when the file is missing or unusable.
    public static func read(path: String) -> [Int: NodeStatus]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return parse(text)
    }

    /// Writes `snapshot` to `path` atomically (a temporary file renamed over it, fsynced).
    /// Nothing is written when no node is usable, as Pgpool-II does.
    public static func write(_ snapshot: ClusterState.Snapshot, to path: String) throws {
        guard snapshot.nodes.contains(where: \.status.isUsable) else { return }
        let temporary = path + ".tmp"
        let data = Data(format(snapshot).utf8)
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.synchronize()
        try handle.close()
        if rename(temporary, path) != 0 {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
