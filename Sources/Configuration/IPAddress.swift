import Foundation

/// An IPv4 or IPv6 address as bytes (4 or 16), parsed without any system call.
public struct IPAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6, network order.
    public var bytes: [UInt8]

    /// Parses dotted IPv4 (`192.168.0.1`) or IPv6 (`::1`, `fe80::1%eth0`, `::ffff:10.0.0.1`).
    public init?(_ text: String) {
        if let v4 = Self.parseIPv4(Substring(text)) {
            bytes = v4
        } else if let v6 = Self.parseIPv6(text) {
            bytes = v6
        } else {
            return nil
        }
    }

    /// Wraps raw bytes; nil unless there are 4 or 16.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Whether this is an IPv4 address.
    public var isIPv4: Bool { bytes.count == 4 }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), if it is one.
    public var unmappedIPv4: IPAddress? {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF
        else { return nil }
        return IPAddress(bytes: Array(bytes[12..<16]))
    }

    /// The IPv4-mapped IPv6 form of an IPv4 address.
    public var mappedIPv6: IPAddress? {
        guard isIPv4 else { return nil }
        return IPAddress(bytes: Array(repeating: 0, count: 10) + [0xFF, 0xFF] + bytes)
    }

    /// Whether the address is a loopback address (127.0.0.0/8, ::1, or ::ffff:127.x.x.x).
    public var isLoopback: Bool {
        if isIPv4 { return bytes[0] == 127 }
        if let v4 = unmappedIPv4 { return v4.isLoopback }
        return bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
    }

    /// Dotted or (uncompressed) colon notation.
    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }

    private static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var result: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = UInt8(part)
            else { return nil }
            result.append(value)
        }
        return result
    }

    private static func parseIPv6(_ full: String) -> [UInt8]? {
        var text = Substring(full)
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        guard text.contains(":") else { return nil }
        // An embedded IPv4 tail (::ffff:10.0.0.1) is parsed on its own and stands for two groups.
        var tail: [UInt8]?
        if let lastColon = text.lastIndex(of: ":") {
            let last = text[text.index(after: lastColon)...]
            if last.contains(".") {
                guard let v4 = parseIPv4(last) else { return nil }
                tail = v4
                text = text[...lastColon] + "0:0"
            }
        }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var values: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !group.isEmpty, group.count <= 4, let value = UInt16(group, radix: 16) else { return nil }
                values.append(value)
            }
            return values
        }
        guard let head = groups(halves[0]), let rest = halves.count == 2 ? groups(halves[1]) : [] else {
            return nil
        }
        let missing = 8 - head.count - rest.count
        guard halves.count == 2 ? missing >= 1 : missing == 0 else { return nil }
        var bytes: [UInt8] = []
        for value in head + Array(repeating: 0, count: missing) + rest {
            bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
        }
        if let tail { bytes.replaceSubrange(12..<16, with: tail) }
        return bytes
    }
}

/// An address and mask: `10.0.0.0/8`, `::1/128`, or an address with a separate netmask.
public struct IPNetwork: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The network address (not necessarily with host bits cleared, as in pg_hba.conf).
    public var address: IPAddress
    /// The mask, same length as the address.
    public var mask: [UInt8]

    /// Combines an address and a mask of the same family.
    public init?(address: IPAddress, mask: IPAddress) {
        guard address.bytes.count == mask.bytes.count else { return nil }
        self.address = address
        self.mask = mask.bytes
    }

    /// An address with a prefix length (0–32 for IPv4, 0–128 for IPv6).
    public init?(address: IPAddress, prefixLength: Int) {
        let bits = address.bytes.count * 8
        guard (0...bits).contains(prefixLength) else { return nil }
        self.address = address
        mask = (0..<address.bytes.count).map { index in
            let ones = min(8, max(0, prefixLength - index * 8))
            return ones == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - ones))
        }
    }

    /// Parses `address/prefix`.
    public init?(cidr text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(String(parts[0])),
            !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let prefix = Int(parts[1])
        else { return nil }
        self.init(address: address, prefixLength: prefix)
    }

    /// Whether `candidate` is inside the network; IPv4 and IPv4-mapped IPv6 addresses are
    /// compared in either direction.
    public func contains(_ candidate: IPAddress) -> Bool {
        var other = candidate
        if other.bytes.count != address.bytes.count {
            if let v4 = other.unmappedIPv4, address.isIPv4 {
                other = v4
            } else if let v6 = other.mappedIPv6, !address.isIPv4 {
                other = v6
            } else {
                return false
            }
        }
        for index in 0..<mask.count where (other.bytes[index] & mask[index]) != (address.bytes[index] & mask[index]) {
            return false
        }
        return true
    }

    /// `address/mask`.
    public var description: String {
        "\(address)/\(IPAddress(bytes: mask).map(\.description) ?? "?")"
    }
}
