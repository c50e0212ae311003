import NIOCore

/// Where a backend listens: TCP host and port, or a Unix socket directory (a hostname that
/// starts with '/', as in libpq and Pgpool-II).
public struct BackendNode: Sendable, Equatable, CustomStringConvertible {
    public var id: Int
    public var host: String
    public var port: Int

    public init(id: Int, host: String, port: Int) {
        self.id = id
        self.host = host
        self.port = port
    }

    public var isUnixSocket: Bool { host.hasPrefix("/") }
    public var socketPath: String { "\(host)/.s.PGSQL.\(port)" }

    public var description: String {
        isUnixSocket ? "backend node \(id) (\(socketPath))" : "backend node \(id) (\(host):\(port))"
    }
}
