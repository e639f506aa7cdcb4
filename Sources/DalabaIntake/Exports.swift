/// Uploads arrive as NIO buffers (Hummingbird's request body); the intake's streaming API takes them as they are.
@_exported import struct NIOCore.ByteBuffer
