import Configuration
import Testing

@Suite("Value parsing")
struct ValueParserTests {
    @Test(arguments: [
        ("on", true), ("off", false), ("ON", true), ("Off", false), ("true", true), ("false", false),
        ("TRUE", true), ("yes", true), ("no", false), ("1", true), ("0", false), ("t", true), ("tr", true),
        ("f", false), ("fal", false), ("y", true), ("ye", true), ("n", false), ("of", false), (" on ", true),
    ])
    func booleans(text: String, expected: Bool) {
        #expect(ValueParser.parseBool(text) == expected)
    }

    @Test(arguments: ["o", "", "maybe", "2", "onn", "yess", "truee", "-1"])
    func invalidBooleans(text: String) {
        #expect(ValueParser.parseBool(text) == nil)
    }

    @Test func plainIntegers() {
        #expect(ValueParser.parseInteger("42", unit: .none) == 42)
        #expect(ValueParser.parseInteger("-1", unit: .none) == -1)
        #expect(ValueParser.parseInteger("+7", unit: .none) == 7)
        #expect(ValueParser.parseInteger("0x10", unit: .none) == 16)
        #expect(ValueParser.parseInteger("0600", unit: .none) == 384)
        #expect(ValueParser.parseInteger("2.6", unit: .none) == 3)
        #expect(ValueParser.parseInteger("1e3", unit: .none) == 1000)
        #expect(ValueParser.parseInteger(".5", unit: .none) == 0)
        #expect(ValueParser.parseInteger("abc", unit: .none) == nil)
        #expect(ValueParser.parseInteger("", unit: .none) == nil)
        #expect(ValueParser.parseInteger("5s", unit: .none) == nil)
        #expect(ValueParser.parseInteger("08", unit: .none) == nil)
        #expect(ValueParser.parseInteger("1 2", unit: .none) == nil)
    }

    @Test func timeUnits() {
        #expect(ValueParser.parseInteger("30", unit: .seconds) == 30)
        #expect(ValueParser.parseInteger("30s", unit: .seconds) == 30)
        #expect(ValueParser.parseInteger("30 s", unit: .seconds) == 30)
        #expect(ValueParser.parseInteger("5min", unit: .seconds) == 300)
        #expect(ValueParser.parseInteger("1.5min", unit: .seconds) == 90)
        #expect(ValueParser.parseInteger("2h", unit: .seconds) == 7200)
        #expect(ValueParser.parseInteger("1d", unit: .seconds) == 86400)
        #expect(ValueParser.parseInteger("1500ms", unit: .seconds) == 2)
        #expect(ValueParser.parseInteger("2000000us", unit: .seconds) == 2)
        #expect(ValueParser.parseInteger("10s", unit: .milliseconds) == 10_000)
        #expect(ValueParser.parseInteger("1d", unit: .minutes) == 1440)
        #expect(ValueParser.parseInteger("90s", unit: .minutes) == 2)
        #expect(ValueParser.parseInteger("5MIN", unit: .seconds) == nil)
        #expect(ValueParser.parseInteger("5m", unit: .seconds) == nil)
        #expect(ValueParser.parseInteger("5MB", unit: .seconds) == nil)
    }

    @Test func sizeUnits() {
        #expect(ValueParser.parseInteger("1024", unit: .bytes) == 1024)
        #expect(ValueParser.parseInteger("1B", unit: .bytes) == 1)
        #expect(ValueParser.parseInteger("400kB", unit: .bytes) == 409_600)
        #expect(ValueParser.parseInteger("64MB", unit: .bytes) == 67_108_864)
        #expect(ValueParser.parseInteger("1GB", unit: .bytes) == 1_073_741_824)
        #expect(ValueParser.parseInteger("1TB", unit: .bytes) == 1_099_511_627_776)
        #expect(ValueParser.parseInteger("10MB", unit: .kilobytes) == 10_240)
        #expect(ValueParser.parseInteger("1kb", unit: .bytes) == nil)
        #expect(ValueParser.parseInteger("1s", unit: .bytes) == nil)
    }

    @Test func lists() {
        #expect(ValueParser.splitList("ABORT; DISCARD ALL", separator: ";") == ["ABORT", "DISCARD ALL"])
        #expect(ValueParser.splitList(" a , b,,c ", separator: ",") == ["a", "b", "c"])
        #expect(ValueParser.splitList("", separator: ",") == [])
        #expect(ValueParser.splitList(#"a\;b;c"#, separator: ";") == [#"a\;b"#, "c"])
    }

    @Test func enumerationsIgnoreCaseAndReturnTheCanonicalSpelling() throws {
        let definition = try #require(ParameterTable.definition(named: "disable_load_balance_on_write"))
        #expect(ValueParser.parse("TRANSACTION", as: definition) == .string("transaction"))
        #expect(ValueParser.parse("Dml_Adaptive", as: definition) == .string("dml_adaptive"))
        #expect(ValueParser.parse("sometimes", as: definition) == nil)
        let facility = try #require(ParameterTable.definition(named: "syslog_facility"))
        #expect(ValueParser.parse("local3", as: facility) == .string("LOCAL3"))
    }

    @Test func reals() throws {
        let weight = try #require(ParameterTable.definition(named: "backend_weight"))
        #expect(ValueParser.parse("0.5", as: weight) == .real(0.5))
        #expect(ValueParser.parse("3", as: weight) == .real(3))
        #expect(ValueParser.parse("-1", as: weight) == nil)
        #expect(ValueParser.parse("heavy", as: weight) == nil)
        #expect(ValueParser.parse("nan", as: weight) == nil)
    }

    @Test func ranges() throws {
        let port = try #require(ParameterTable.definition(named: "port"))
        #expect(ValueParser.parse("1024", as: port) == .integer(1024))
        #expect(ValueParser.parse("65535", as: port) == .integer(65535))
        #expect(ValueParser.parse("1023", as: port) == nil)
        #expect(ValueParser.parse("65536", as: port) == nil)
    }
}
