import Foundation

/// The standard `process_*` figures, read from /proc/self on Linux.
public struct ProcessStats: Sendable, Equatable {
    public var cpuSeconds: Double
    public var residentBytes: Int
    public var virtualBytes: Int
    public var openFileDescriptors: Int
    public var maxFileDescriptors: Int
    /// Seconds since 1970.
    public var startTime: Double

    public init(cpuSeconds: Double, residentBytes: Int, virtualBytes: Int, openFileDescriptors: Int, maxFileDescriptors: Int,
                startTime: Double) {
        self.cpuSeconds = cpuSeconds
        self.residentBytes = residentBytes
        self.virtualBytes = virtualBytes
        self.openFileDescriptors = openFileDescriptors
        self.maxFileDescriptors = maxFileDescriptors
        self.startTime = startTime
    }

    /// Reads the current process; zeros where /proc is unavailable.
    public static func current(startTime: Double) -> ProcessStats {
        var stats = ProcessStats(cpuSeconds: 0, residentBytes: 0, virtualBytes: 0, openFileDescriptors: 0,
                                 maxFileDescriptors: 0, startTime: startTime)
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after the command name; utime and stime are fields 14 and 15 (1-based).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 22, let user = Double(fields[11]), let system = Double(fields[12]), ticks > 0 {
                stats.cpuSeconds = (user + system) / ticks
                stats.virtualBytes = Int(fields[20]) ?? 0
                stats.residentBytes = (Int(fields[21]) ?? 0) * pageSize
            }
        }
        stats.openFileDescriptors = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count ?? 1) - 1
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { stats.maxFileDescriptors = Int(limit.rlim_cur) }
        return stats
    }
}
