import Configuration
import Testing

@Suite("etcd coordination configuration")
struct EtcdConfigTests {
    @Test func offByDefault() throws {
        let config = try ConfigLoader.parse(text: "", fileName: "/tmp/pgpool.conf").config
        #expect(!config.etcd.enabled && !config.watchdog.enabled)
    }

    @Test func etcdSettings() throws {
        let text = """
            port = 15432
            coordination = 'etcd'
            etcd_endpoints = 'http://10.0.0.1:2379, http://10.0.0.2:2379,https://10.0.0.3:2379'
            etcd_prefix = '/swiftpool/prod/'
            etcd_ttl = 20
            etcd_member_name = 'proxy-a'
            etcd_username = 'swiftpool'
            etcd_password = 'secret'
            etcd_ca_file = 'ca.pem'
            delegate_IP = '10.0.0.100'
            if_cmd_path = '/usr/sbin'
            if_up_cmd = 'ip addr add $_IP_$/24 dev eth0'
            wd_escalation_command = '/bin/true'
            """
        let config = try ConfigLoader.parse(text: text, fileName: "/etc/swiftpool/pgpool.conf").config.etcd
        #expect(config.enabled)
        #expect(config.endpoints == ["http://10.0.0.1:2379", "http://10.0.0.2:2379", "https://10.0.0.3:2379"])
        #expect(config.prefix == "/swiftpool/prod")
        #expect(config.ttl == .seconds(20) && config.memberName == "proxy-a" && config.pgpoolPort == 15432)
        #expect(config.username == "swiftpool" && config.password == "secret")
        #expect(config.caFile == "/etc/swiftpool/ca.pem" && config.usesTLS)
        #expect(config.escalation.steps(escalation: true).map(\.command)
            == ["/bin/true", "/usr/sbin/ip addr add 10.0.0.100/24 dev eth0", "/usr/bin/sudo /usr/sbin/arping -U 10.0.0.100 -w 1 -I eth0"])
        #expect(config.escalation.steps(escalation: false).map(\.label) == ["if_down_cmd"])
    }

    @Test(arguments: [
        ("coordination = 'etcd'\nuse_watchdog = on\nhostname0 = 'a'\npgpool_port0 = 9999", "exclude each other"),
        ("coordination = 'etcd'\netcd_endpoints = ''", "at least one etcd endpoint"),
        ("coordination = 'etcd'\netcd_endpoints = '10.0.0.1:2379'", "is not an etcd client URL"),
        ("coordination = 'etcd'\netcd_prefix = 'relative'", "absolute key path"),
        ("coordination = 'etcd'\netcd_cert_file = 'c.pem'", "go together"),
        ("coordination = 'etcd'\netcd_member_name = 'a/b'", "may not contain"),
        ("coordination = 'consul'", "expected one of: watchdog, etcd"),
        ("etcd_ttl = 1", "etcd_ttl"),
    ])
    func refused(text: String, expected: String) {
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(text: text, fileName: "/tmp/pgpool.conf") }
        do {
            _ = try ConfigLoader.parse(text: text, fileName: "/tmp/pgpool.conf")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test func thePasswordIsASecret() {
        #expect(ParameterDefinition.isSecret("etcd_password"))
    }
}
