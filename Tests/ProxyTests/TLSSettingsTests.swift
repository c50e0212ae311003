import NIOSSL
import Testing
@testable import Proxy

/// The pgpool.conf TLS values that are parsed rather than read from files: `ssl_ecdh_curve` and
/// `ssl_passphrase_command`'s placeholders.
struct TLSSettingsTests {
    @Test func curveNamesFollowOpenSSLAndKeepTheirOrder() throws {
        #expect(try TLSCurves.parse("prime256v1") == [.secp256r1])
        #expect(try TLSCurves.parse("X25519:secp384r1:P-256") == [.x25519, .secp384r1, .secp256r1])
        #expect(try TLSCurves.parse(" secp521r1 : secp521r1 ") == [.secp521r1])
        #expect(try TLSCurves.parse("") == nil)
    }

    @Test func anUnknownCurveNamesTheParameter() {
        #expect(throws: TLSFileError.self) { try TLSCurves.parse("prime256v1:brainpoolP256r1") }
        do {
            _ = try TLSCurves.parse("brainpoolP256r1")
        } catch {
            #expect(error.description.hasPrefix("ssl_ecdh_curve: unknown curve \"brainpoolP256r1\""))
        }
    }

    @Test func thePromptIsQuotedForTheShell() {
        #expect(PassphraseCommand.expand("get-pass %p", prompt: "Enter it:") == "get-pass 'Enter it:'")
        #expect(PassphraseCommand.expand("echo %p", prompt: "it's") == #"echo 'it'\''s'"#)
        #expect(PassphraseCommand.expand("printf 100%% %x%", prompt: "p") == "printf 100% %x%")
    }

    @Test func thePassphraseIsTheFirstLineOfTheOutput() throws {
        #expect(try PassphraseCommand.run("printf 'secret\\nrest\\n'", keyFile: "k.pem") == Array("secret".utf8))
        #expect(throws: TLSFileError.self) { try PassphraseCommand.run("exit 3", keyFile: "k.pem") }
    }
}
