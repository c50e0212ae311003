extension StringProtocol {
    /// The text before and after the first `separator`, compared by Unicode scalar, or nil when
    /// there is none. `firstIndex(of:)` and `split(separator:)` compare `Character`s, and a
    /// separator followed by a combining mark (":\u{301}") is one `Character` with it, so they
    /// would miss it: `user:\u{301}pass` would read as one user name. Pgpool-II splits these lines
    /// at the byte; so does this.
    public func splitOnce(atScalar separator: Unicode.Scalar) -> (before: String, after: String)? {
        let scalars = Substring(self).unicodeScalars
        guard let index = scalars.firstIndex(of: separator) else { return nil }
        return (String(scalars[..<index]), String(scalars[scalars.index(after: index)...]))
    }
}

extension String {
    /// The rest of the text after `prefix`, compared by Unicode scalar (see `splitOnce`: a
    /// combining mark after the prefix must not hide it), or nil when the text does not start so.
    func droppingScalarPrefix(_ prefix: String) -> String? {
        guard unicodeScalars.starts(with: prefix.unicodeScalars) else { return nil }
        return String(unicodeScalars.dropFirst(prefix.unicodeScalars.count))
    }
}
