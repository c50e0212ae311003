import Configuration
import Testing

@Suite("IP addresses and networks")
struct IPAddressTests {
    @Test func parsesIPv4AndIPv6() {
        #expect(IPAddress("192.168.1.20")?.bytes == [192, 168, 1, 20])
        #expect(IPAddress("::1")?.bytes == Array(repeating: 0, count: 15) + [1])
        #expect(IPAddress("::")?.bytes == Array(repeating: 0, count: 16))
        #expect(IPAddress("fe80::1%eth0")?.bytes == [0xFE, 0x80] + Array(repeating: 0, count: 13) + [1])
        #expect(IPAddress("2001:db8:0:0:0:0:2:1")?.bytes == IPAddress("2001:db8::2:1")?.bytes)
        #expect(IPAddress("::ffff:10.0.0.1")?.unmappedIPv4 == IPAddress("10.0.0.1"))
        #expect(IPAddress("10.0.0.1")?.mappedIPv6 == IPAddress("::ffff:10.0.0.1"))
        #expect(IPAddress("1:2:3:4:5:6:7:8")?.description == "1:2:3:4:5:6:7:8")
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "a.b.c.d", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "pg-1", ":::"])
    func rejectsInvalidText(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func loopback() {
        #expect(IPAddress("127.0.0.1")?.isLoopback == true)
        #expect(IPAddress("127.9.9.9")?.isLoopback == true)
        #expect(IPAddress("::1")?.isLoopback == true)
        #expect(IPAddress("::ffff:127.0.0.1")?.isLoopback == true)
        #expect(IPAddress("10.0.0.1")?.isLoopback == false)
        #expect(IPAddress("::2")?.isLoopback == false)
    }

    func ip(_ text: String) throws -> IPAddress {
        try #require(IPAddress(text))
    }

    @Test func networks() throws {
        let v4 = try #require(IPNetwork(cidr: "10.1.0.0/16"))
        #expect(v4.contains(try ip("10.1.200.3")))
        #expect(!v4.contains(try ip("10.2.0.1")))
        #expect(v4.contains(try ip("::ffff:10.1.0.9")))
        let odd = try #require(IPNetwork(cidr: "192.168.1.0/23"))
        #expect(odd.contains(try ip("192.168.0.77")))
        #expect(!odd.contains(try ip("192.168.2.1")))
        let v6 = try #require(IPNetwork(cidr: "2001:db8::/32"))
        #expect(v6.contains(try ip("2001:db8:ffff::1")))
        #expect(!v6.contains(try ip("2001:db9::1")))
        #expect(!v6.contains(try ip("10.0.0.1")))
        let mappedRule = try #require(IPNetwork(cidr: "::ffff:10.0.0.0/104"))
        #expect(mappedRule.contains(try ip("10.9.9.9")))
        let all = try #require(IPNetwork(cidr: "0.0.0.0/0"))
        #expect(all.contains(try ip("8.8.8.8")))
        let masked = try #require(IPNetwork(address: try ip("172.16.0.0"), mask: try ip("255.240.0.0")))
        #expect(masked.contains(try ip("172.31.255.255")))
        #expect(!masked.contains(try ip("172.32.0.0")))
        #expect(IPNetwork(cidr: "10.0.0.0/33") == nil)
        #expect(IPNetwork(cidr: "10.0.0.0/") == nil)
        #expect(IPNetwork(cidr: "10.0.0.0/x") == nil)
        #expect(IPNetwork(cidr: "::1/129") == nil)
        #expect(IPNetwork(address: try ip("10.0.0.0"), mask: try ip("ffff::")) == nil)
        #expect(try #require(IPNetwork(cidr: "10.0.0.0/8")).description == "10.0.0.0/255.0.0.0")
    }
}
