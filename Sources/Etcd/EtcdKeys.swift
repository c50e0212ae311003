/// Where a fleet keeps its state in etcd, under its prefix:
///
/// | key | value | lease |
/// |---|---|---|
/// | `<prefix>/leader` | the leader's member name | the leader's |
/// | `<prefix>/members/<name>` | `MemberRecord` (JSON) | the member's |
/// | `<prefix>/backends` | `BackendsRecord` (JSON), written by the leader only | none |
/// | `<prefix>/requests/<name>-<n>` | `RequestRecord` (JSON): a member asks the leader | the asking member's |
/// | `<prefix>/reload` | a counter: every member reloads its configuration when it changes | none |
public struct EtcdKeys: Sendable, Equatable {
    public let prefix: String

    /// - Parameter prefix: an absolute key path without a trailing slash.
    public init(prefix: String) {
        self.prefix = prefix
    }

    public var leader: String { prefix + "/leader" }
    public var backends: String { prefix + "/backends" }
    public var reload: String { prefix + "/reload" }
    public var membersPrefix: String { prefix + "/members/" }
    public var requestsPrefix: String { prefix + "/requests/" }
    public func member(_ name: String) -> String { membersPrefix + name }
    public func request(_ id: String) -> String { requestsPrefix + id }

    /// Every key of the fleet: `prefix/` up to (not including) `prefix0`.
    public var all: (key: String, rangeEnd: String) { (prefix + "/", Self.rangeEnd(of: prefix + "/")) }

    /// What a key means, or nil for keys this version does not use.
    public enum Kind: Sendable, Equatable {
        case leader
        case backends
        case reload
        case member(String)
        case request(String)
    }

    public func kind(of key: String) -> Kind? {
        if key == leader { return .leader }
        if key == backends { return .backends }
        if key == reload { return .reload }
        if key.hasPrefix(membersPrefix) { return .member(String(key.dropFirst(membersPrefix.count))) }
        if key.hasPrefix(requestsPrefix) { return .request(String(key.dropFirst(requestsPrefix.count))) }
        return nil
    }

    /// etcd's range end for "every key starting with `prefix`": the prefix with its last byte
    /// plus one (bytes of 0xff are dropped first).
    public static func rangeEnd(of prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return "\0"
    }
}
