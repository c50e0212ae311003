/// The hosts to bind for a `*_listen_addresses` list: `*` becomes `any` (the wildcard address),
/// `localhost` the IPv4 loopback; empty entries are dropped and repeats removed.
public func listenHosts(_ addresses: [String], any: String) -> [String] {
    var seen = Set<String>()
    return addresses.compactMap { address -> String? in
        switch address {
        case "*": any
        case "localhost": "127.0.0.1"
        case "": nil
        default: address
        }
    }.filter { seen.insert($0).inserted }
}
