extension StringProtocol {
    /// Whether both hold the same UTF-8 bytes. PostgreSQL and Pgpool-II compare role and
    /// database names so; Swift's `==` also equates canonically equivalent forms, such as "é"
    /// and "e\u{301}", which PostgreSQL holds as two different roles.
    @inlinable
    public func hasSameBytes<Other: StringProtocol>(as other: Other) -> Bool {
        utf8.elementsEqual(other.utf8)
    }
}

extension Dictionary where Key == String {
    /// The value stored under a key with exactly `name`'s bytes (see ``Swift/StringProtocol/hasSameBytes(as:)``):
    /// a key that is only canonically equivalent to `name` does not count.
    public subscript(exactly name: String) -> Value? {
        guard let index = index(forKey: name), self[index].key.hasSameBytes(as: name) else { return nil }
        return self[index].value
    }
}

extension Hasher {
    /// Feeds the UTF-8 bytes of `text` (with their count), to hash alike what
    /// ``Swift/StringProtocol/hasSameBytes(as:)`` calls equal.
    public mutating func combineBytes(of text: String) {
        var text = text
        text.withUTF8 { bytes in
            combine(bytes.count)
            combine(bytes: UnsafeRawBufferPointer(bytes))
        }
    }
}
