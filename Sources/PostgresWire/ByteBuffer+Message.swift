import NIOCore

extension ByteBuffer {
    /// Writes a typed message: the type byte, a length placeholder, the body, then patches the length.
    @inlinable
    public mutating func writeMessage(type: UInt8, _ body: (inout ByteBuffer) -> Void) {
        writeInteger(type)
        let lengthIndex = writerIndex
        writeInteger(Int32(0))
        body(&self)
        setInteger(Int32(writerIndex - lengthIndex), at: lengthIndex)
    }
}
