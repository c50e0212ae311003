import Crypto

/// PostgreSQL's md5 password scheme.
public enum MD5Password {
    /// `md5` + hex(md5(password ‖ user)), as stored in pg_authid and pool_passwd.
    public static func storedHash(password: String, user: String) -> String {
        "md5" + hex(Insecure.MD5.hash(data: Array((password + user).utf8)))
    }

    /// The response to an md5 challenge: `md5` + hex(md5(hex-part-of-stored-hash ‖ salt)).
    public static func response(storedHash: String, salt: [UInt8]) -> String {
        let inner = Array(storedHash.dropFirst(3).utf8)
        return "md5" + hex(Insecure.MD5.hash(data: inner + salt))
    }

    /// The response to an md5 challenge from a plain password.
    public static func response(password: String, user: String, salt: [UInt8]) -> String {
        response(storedHash: storedHash(password: password, user: user), salt: salt)
    }

    /// hex(md5(text)), as pcp.conf stores passwords.
    public static func plainHash(_ text: String) -> String {
        plainHash(bytes: Array(text.utf8))
    }

    /// hex(md5(bytes)).
    public static func plainHash(bytes: [UInt8]) -> String {
        hex(Insecure.MD5.hash(data: bytes))
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
