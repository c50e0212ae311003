/// What a member runs when it starts or stops leading its fleet: the virtual IP (`delegate_ip`)
/// and the commands around it. The watchdog and the etcd back end read the same parameters.
public struct EscalationSettings: Sendable, Equatable {
    /// `delegate_ip`; empty for none (the commands around it still run).
    public var delegateIP: String
    /// `if_up_cmd`, `if_down_cmd` and `arping_cmd` with relative commands resolved against
    /// `if_cmd_path` / `arping_path` (`$_IP_$` still in them).
    public var ifUpCommand: String
    public var ifDownCommand: String
    public var arpingCommand: String
    /// `wd_escalation_command` / `wd_de_escalation_command`.
    public var escalationCommand: String
    public var deEscalationCommand: String

    public init(delegateIP: String, ifUpCommand: String, ifDownCommand: String, arpingCommand: String,
                escalationCommand: String, deEscalationCommand: String) {
        self.delegateIP = delegateIP
        self.ifUpCommand = ifUpCommand
        self.ifDownCommand = ifDownCommand
        self.arpingCommand = arpingCommand
        self.escalationCommand = escalationCommand
        self.deEscalationCommand = deEscalationCommand
    }

    /// Nothing to run.
    public static let none = EscalationSettings(
        delegateIP: "", ifUpCommand: "", ifDownCommand: "", arpingCommand: "", escalationCommand: "", deEscalationCommand: "")

    /// Replaces `$_IP_$` with the virtual IP.
    public func expand(_ command: String) -> String {
        command.replacing("$_IP_$", with: delegateIP)
    }

    /// The commands to run, in order, with the parameter each comes from: escalation is
    /// wd_escalation_command, if_up_cmd, arping_cmd; de-escalation wd_de_escalation_command,
    /// if_down_cmd. The address commands run only with a virtual IP; empty commands are left out.
    public func steps(escalation: Bool) -> [(command: String, label: String)] {
        var steps: [(String, String)] = []
        if escalation {
            steps.append((escalationCommand, "wd_escalation_command"))
            if !delegateIP.isEmpty {
                steps.append((expand(ifUpCommand), "if_up_cmd"))
                steps.append((expand(arpingCommand), "arping_cmd"))
            }
        } else {
            steps.append((deEscalationCommand, "wd_de_escalation_command"))
            if !delegateIP.isEmpty { steps.append((expand(ifDownCommand), "if_down_cmd")) }
        }
        return steps.filter { !$0.0.isEmpty }.map { (command: $0.0, label: $0.1) }
    }
}
