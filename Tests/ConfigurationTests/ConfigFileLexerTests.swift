import Configuration
import Testing

@Suite("pgpool.conf syntax")
struct ConfigFileLexerTests {
    func entries(_ text: String) throws(ConfigError) -> [ConfigFileEntry] {
        try ConfigFileLexer.parse(text: text, fileName: "pgpool.conf")
    }

    @Test func nameEqualsValueForms() throws {
        let parsed = try entries(
            """
            port = 5432
            port=5433
            port 5434
            \tport\t=\t5435\t
            port'5436'
            """)
        #expect(parsed.map(\.value) == ["5432", "5433", "5434", "5435", "5436"])
        #expect(parsed.map(\.line) == [1, 2, 3, 4, 5])
        #expect(parsed.allSatisfy { $0.name == "port" })
    }

    @Test func commentsAndBlankLinesAreSkipped() throws {
        let parsed = try entries(
            """
            # a comment

               # an indented comment
            port = 5432 # trailing comment
            listen_addresses = '*'# comment right after the quote
            log_connections = on#comment
            """)
        #expect(parsed.map(\.name) == ["port", "listen_addresses", "log_connections"])
        #expect(parsed.map(\.value) == ["5432", "*", "on"])
        #expect(parsed.map(\.line) == [4, 5, 6])
    }

    @Test func quotedValues() throws {
        let parsed = try entries(
            """
            a = 'with spaces and # hash'
            b = ''
            c = 'it''s'
            d = '/etc/failover.sh %d %h %p'
            """)
        #expect(parsed.map(\.value) == ["with spaces and # hash", "", "it's", "/etc/failover.sh %d %h %p"])
        #expect(parsed.allSatisfy { $0.quoted })
    }

    @Test func backslashesAreKeptAsPgpoolDoes() throws {
        let parsed = try entries(#"a = 'x\'y\tz\\w'"#)
        #expect(parsed.first?.value == #"x\'y\tz\\w"#)
    }

    @Test func bareWordsKeepTheirText() throws {
        let parsed = try entries("a = 1.5min\nb = /var/run/x.pid\nc = -1\nd = 0x10")
        #expect(parsed.map(\.value) == ["1.5min", "/var/run/x.pid", "-1", "0x10"])
        #expect(parsed.allSatisfy { !$0.quoted })
    }

    @Test func crlfLineEndings() throws {
        let parsed = try entries("port = 1\r\nlisten_addresses = 'x'\r\n")
        #expect(parsed.map(\.value) == ["1", "x"])
    }

    @Test func namesKeepTheirCase() throws {
        #expect(try entries("Log_Connections = on").first?.name == "Log_Connections")
    }

    @Test func syntaxErrorsNameFileLineAndToken() {
        func message(_ text: String) -> String? {
            do {
                _ = try entries(text)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(message("port = 1\n= 5") == "pgpool.conf:2: syntax error near \"=\"")
        #expect(message("num_init_children 5 6") == "pgpool.conf:1: syntax error near \"6\"")
        #expect(message("port = 1\n9port = 2") == "pgpool.conf:2: syntax error near \"9port\"")
        #expect(message("a-b = 1") == "pgpool.conf:1: syntax error near \"a-b\"")
        #expect(message("a = 'x' 'y'") == "pgpool.conf:1: syntax error near \"'y'\"")
        #expect(
            message("a = 'unterminated  \nb = 1")
                == "pgpool.conf:1: syntax error near \"'unterminated\": unterminated quoted value")
        #expect(
            message("\n\nnum_init_children =  # nothing")
                == "pgpool.conf:3: syntax error near end of line: parameter \"num_init_children\" has no value")
        #expect(
            message("port")
                == "pgpool.conf:1: syntax error near end of line: parameter \"port\" has no value")
    }

    @Test func syntaxErrorsAreTyped() {
        do {
            _ = try entries("= 1")
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .syntax)
            #expect(error.line == 1)
            #expect(error.file == "pgpool.conf")
        }
    }
}
