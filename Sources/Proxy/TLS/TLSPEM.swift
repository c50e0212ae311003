import Foundation

/// A certificate and key for a server SwiftPool does not run on swift-nio-ssl (the admin HTTP
/// server), checked like ``ClientTLS``'s and read as PEM text.
public struct TLSPEM: Sendable {
    public var certificate: String
    public var key: String

    /// Checks `files` (readable, matching, not expired, key not readable by others) and reads them.
    public init(files: TLSFiles) throws(TLSFileError) {
        _ = try TLSFileCheck.load(files)
        guard let certificate = try? String(contentsOfFile: files.certificate, encoding: .utf8) else {
            throw TLSFileError(file: files.certificate, problem: "cannot read the file as text")
        }
        guard let key = try? String(contentsOfFile: files.key, encoding: .utf8) else {
            throw TLSFileError(file: files.key, problem: "cannot read the file as text")
        }
        self.certificate = certificate
        self.key = key
    }
}
