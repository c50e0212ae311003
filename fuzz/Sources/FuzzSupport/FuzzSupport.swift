@_exported import CFuzzer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fails the current input: prints what was expected and aborts, which libFuzzer reports as a
/// crash and saves the input. Unlike `precondition`, the message survives `-O`.
public func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                  file: StaticString = #fileID, line: UInt = #line) {
    if !condition() {
        let text = "invariant violated at \(file):\(line): \(message())\n"
        _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        abort()
    }
}

/// The fuzzer's input as bytes.
@inlinable
public func bytes(_ start: UnsafeRawPointer, _ count: Int) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: start, count: count))
}

/// Reads a fuzz input front to back: a few control bytes, then the rest.
public struct FuzzInput {
    public var bytes: ArraySlice<UInt8>

    public init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    public var isEmpty: Bool { bytes.isEmpty }

    /// The next byte, or 0 once the input is used up.
    public mutating func byte() -> UInt8 {
        bytes.popFirst() ?? 0
    }

    /// A number in `0..<bound`, from one byte.
    public mutating func choose(_ bound: Int) -> Int {
        Int(byte()) % max(bound, 1)
    }

    /// The next `count` bytes (fewer at the end).
    public mutating func take(_ count: Int) -> [UInt8] {
        let part = bytes.prefix(count)
        bytes = bytes.dropFirst(part.count)
        return Array(part)
    }

    /// Everything left.
    public mutating func rest() -> [UInt8] {
        defer { bytes = [] }
        return Array(bytes)
    }

    /// Splits what is left at `separator` (a byte that rarely appears in meaningful input).
    public func parts(separatedBy separator: UInt8) -> [[UInt8]] {
        bytes.split(separator: separator, omittingEmptySubsequences: false).map(Array.init)
    }
}

extension String {
    /// The bytes as UTF-8, invalid sequences replaced (as `String(decoding:)` does in production).
    public init(fuzz bytes: some Collection<UInt8>) {
        self = String(decoding: bytes, as: UTF8.self)
    }
}

/// A small deterministic generator (SplitMix64) for decisions derived from a few input bytes,
/// so that one input always takes the same path.
public struct FuzzRandom {
    private var state: UInt64

    public init(seed: [UInt8]) {
        var value: UInt64 = 0x9E37_79B9_7F4A_7C15
        for byte in seed { value = (value &* 31) &+ UInt64(byte) }
        state = value
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound`.
    public mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(max(bound, 1)))
    }

    /// Cuts `bytes` into reads of 1 to `maxChunk` bytes, as a socket might deliver them.
    public mutating func chunks(of bytes: [UInt8], maxChunk: Int) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var start = 0
        while start < bytes.count {
            let length = 1 + below(maxChunk)
            let end = min(bytes.count, start + length)
            result.append(bytes[start..<end])
            start = end
        }
        return result
    }
}

/// One typed v3 message (type byte, int32 length counting itself, body) found by a plain
/// reading of a whole byte stream: the reference the streaming readers are compared with.
public struct ReferenceMessage: Equatable {
    public var type: UInt8
    /// Type, length and body.
    public var bytes: [UInt8]
    public var body: ArraySlice<UInt8> { bytes[5...] }
}

/// Reads `stream` message by message. `error` is the offset of a header whose length is below 4
/// or above `limit`; `consumed` counts the bytes of the complete messages.
public func referenceMessages(_ stream: [UInt8], limit: Int) -> (messages: [ReferenceMessage], consumed: Int, error: Int?) {
    var messages: [ReferenceMessage] = []
    var offset = 0
    while stream.count - offset >= 5 {
        let length = Int(Int32(bitPattern: UInt32(stream[offset + 1]) << 24 | UInt32(stream[offset + 2]) << 16
                               | UInt32(stream[offset + 3]) << 8 | UInt32(stream[offset + 4])))
        if length < 4 || length > limit { return (messages, offset, offset) }
        guard stream.count - offset >= length + 1 else { break }
        messages.append(ReferenceMessage(type: stream[offset], bytes: Array(stream[offset..<offset + length + 1])))
        offset += length + 1
    }
    return (messages, offset, nil)
}

/// Runs libFuzzer's driver with the process's arguments and `body` as the fuzz target, then exits
/// with its status. Every target's main.swift calls this.
public func runFuzzer(_ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, body))
}
