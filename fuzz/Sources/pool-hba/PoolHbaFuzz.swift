// pool_hba.conf: PoolHba.parse (fields, quoting, lists, addresses and masks, methods, `@file`
// includes) and PoolHba.match for a few connections, as the login's pool_hba check does.
//
// Input: the file's text; after the first byte 0x01, the text every `@file` include reads.
// (An include that reads as nothing leaves a rule that matches nobody, which is harmless.)
import Configuration
import FuzzSupport

let connections: [HbaConnection] = [
    HbaConnection(kind: .local, database: "postgres", user: "postgres"),
    HbaConnection(kind: .host(address: "127.0.0.1"), database: "app", user: "app", serverAddress: "127.0.0.1"),
    HbaConnection(kind: .host(address: "192.168.12.34"), isSSL: true, database: "app", user: "app", serverAddress: "192.168.12.1"),
    HbaConnection(kind: .host(address: "::1"), database: "postgres", user: "alice", serverAddress: "::1"),
    HbaConnection(kind: .host(address: "fe80::1:2"), database: "alice", user: "alice", serverAddress: "fe80::1"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let parts = FuzzInput(bytes(start, count)).parts(separatedBy: 1)
    let text = String(fuzz: parts[0])
    let included = parts.count > 1 ? String(fuzz: Array(parts[1...].joined(separator: [1]))) : ""
    var reads = 0
    let hba: PoolHba
    do {
        hba = try PoolHba.parse(text: text, fileName: "pool_hba.conf", includeDirectory: "/etc/swiftpool") {
            (path: String) throws(ConfigError) -> String in
            reads += 1
            check(reads <= 10_000, "\(reads) include reads for one file")
            return included
        }
    } catch {
        _ = "\(error)"
        return 0
    }
    var previousLine = 0
    for rule in hba.rules {
        check(rule.line > previousLine, "rules out of line order")
        check((rule.connectionType == .local) == (rule.address == nil), "address presence does not fit \(rule.connectionType)")
        previousLine = rule.line
    }
    for connection in connections {
        if let rule = hba.match(connection: connection) {
            check(hba.rules.contains(rule), "matched a rule that is not in the file")
        }
    }
    return 0
}
