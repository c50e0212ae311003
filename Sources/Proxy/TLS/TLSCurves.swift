import Foundation
import NIOSSL

/// `ssl_ecdh_curve`: the ECDH groups offered to clients. PostgreSQL and Pgpool-II take one
/// OpenSSL curve name (default `prime256v1`); a colon-separated list is accepted as well.
enum TLSCurves {
    /// The curves `text` names, in its order; nil for an empty value (the library's default).
    static func parse(_ text: String) throws(TLSFileError) -> [NIOTLSCurve]? {
        let names = text.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { return nil }
        var curves: [NIOTLSCurve] = []
        for name in names {
            guard let curve = known[name.lowercased()] else {
                throw TLSFileError(file: "ssl_ecdh_curve", problem: "unknown curve \"\(name)\" (known: prime256v1, secp384r1, secp521r1, X25519)")
            }
            if !curves.contains(curve) { curves.append(curve) }
        }
        return curves
    }

    private static let known: [String: NIOTLSCurve] = [
        "prime256v1": .secp256r1, "secp256r1": .secp256r1, "p-256": .secp256r1,
        "secp384r1": .secp384r1, "p-384": .secp384r1,
        "secp521r1": .secp521r1, "p-521": .secp521r1,
        "x25519": .x25519,
    ]
}
