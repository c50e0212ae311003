/// Comparisons of secrets (password hashes, SCRAM keys, tokens) that look at every byte whatever
/// the first difference, so that the time taken tells an attacker nothing.
public enum ConstantTime {
    /// Whether `a` and `b` hold the same bytes; the time depends only on the longer length.
    public static func equal<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool where A.Element == UInt8, B.Element == UInt8 {
        let x = Array(a), y = Array(b)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }

    /// The same for the UTF-8 bytes of two strings.
    public static func equal(_ a: String, _ b: String) -> Bool {
        equal(a.utf8, b.utf8)
    }
}
