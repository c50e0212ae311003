import CLibPQ
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// A short-lived libpq connection for SwiftPool's own management queries. Blocking: use it only
/// on a thread pool, never on an event loop.
public final class LibPQConnection {
    private let connection: OpaquePointer

    /// Parameters every management connection gets unless it sets them itself: the TLS policy
    /// to the nodes (`sslmode`, `sslrootcert`), set once at start-up.
    private static let defaults = NIOLockedValueBox<[String: String]>([:])

    /// Sets the parameters every later connection gets (see ``defaults``).
    public static func setDefaultParameters(_ parameters: [String: String]) {
        defaults.withLockedValue { $0 = parameters }
    }

    /// Connection parameters as libpq keywords (host, port, user, password, dbname, connect_timeout…).
    public init(parameters given: [String: String]) throws(LibPQError) {
        let parameters = given.merging(Self.defaults.withLockedValue { $0 }) { mine, _ in mine }
        let keys = Array(parameters.keys) + ["application_name"]
        let values = keys.map { parameters[$0] ?? "swiftpool" }
        let connection = Self.withCStrings(keys) { keyPointers in
            Self.withCStrings(values) { valuePointers in
                PQconnectdbParams(keyPointers, valuePointers, 0)
            }
        }
        guard let connection else { throw LibPQError(message: "out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection))
            PQfinish(connection)
            throw LibPQError(message: message.trimmingNewlines())
        }
        self.connection = connection
    }

    /// Connects to one node as `user` (a nil password lets libpq ask nobody: trust or failure).
    public convenience init(host: String, port: Int, user: String, password: String?, database: String,
                            connectTimeoutSeconds: Int) throws(LibPQError) {
        var parameters = ["host": host, "port": "\(port)", "user": user, "dbname": database,
                          "connect_timeout": "\(max(1, connectTimeoutSeconds))"]
        if let password { parameters["password"] = password }
        try self.init(parameters: parameters)
    }

    deinit {
        PQfinish(connection)
    }

    /// Runs a query and returns the first column of the first row.
    public func queryScalar(_ sql: String) throws(LibPQError) -> String? {
        guard let result = PQexec(connection, sql) else { throw LibPQError(message: "out of memory") }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK else {
            throw LibPQError(message: String(cString: PQresultErrorMessage(result)).trimmingNewlines())
        }
        guard PQntuples(result) > 0, PQgetisnull(result, 0, 0) == 0 else { return nil }
        return String(cString: PQgetvalue(result, 0, 0))
    }

    /// Runs a query with text parameters and returns the first row (nil values for NULLs), or nil
    /// when there is no row.
    public func queryRow(_ sql: String, parameters: [String]) throws(LibPQError) -> [String?]? {
        try queryRows(sql, parameters: parameters).first
    }

    /// Runs a query with text parameters and returns every row (nil values for NULLs).
    public func queryRows(_ sql: String, parameters: [String] = []) throws(LibPQError) -> [[String?]] {
        let result = Self.withCStrings(parameters) { values in
            PQexecParams(connection, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard let result else { throw LibPQError(message: "out of memory") }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK else {
            throw LibPQError(message: String(cString: PQresultErrorMessage(result)).trimmingNewlines())
        }
        return (0..<PQntuples(result)).map { row in
            (0..<PQnfields(result)).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
    }

    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        pointers.append(nil)
        return body(pointers.map { UnsafePointer($0) })
    }
}

/// A libpq error with its message (never containing the password).
public struct LibPQError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension String {
    func trimmingNewlines() -> String {
        var text = self
        while text.last?.isNewline == true { text.removeLast() }
        return text
    }
}
