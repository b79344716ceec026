#if canImport(Glibc)
import Glibc
#endif
import DocketWire
import NIOCore
import NIOPosix
import Synchronization

/// A plain TCP socket to 127.0.0.1 for sending arbitrary bytes, byte by byte if need be.
final class RawSocket: @unchecked Sendable {  // an fd; send and recv are thread-safe
    let fd: Int32

    /// `receiveBuffer` fixes the kernel's receive buffer (no autotuning): what a client that does
    /// not read can absorb.
    init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw SocketError(errno: errno) }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything until the peer closes (true) or 10 s of silence (false).
    func readAll() -> ([UInt8], Bool) {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 { return (out, true) }
            if n < 0 { return (out, errno == ECONNRESET) }
            out += chunk[0..<n]
        }
    }

    func readByte() -> UInt8? {
        var b: UInt8 = 0
        return recv(fd, &b, 1, 0) == 1 ? b : nil
    }
}

/// A socket listening on 127.0.0.1 that never accepts: the kernel completes TCP handshakes and
/// nothing ever answers (a stopped node, or something that is not one).
final class SilentListener: @unchecked Sendable {  // an fd
    let fd: Int32
    let port: Int

    init?() {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = self.fd
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        guard bound else { return nil }  // (deinit closes it)
    }

    deinit { close(fd) }
}

struct SocketError: Error {
    var errno: Int32
}

/// A peer on 127.0.0.1 that speaks the frame protocol from a script: each frame it receives is
/// answered with what `answer` returns for it (nil: no answer). It counts the frames of each type.
final class ScriptedPeer: Sendable {
    let port: Int
    private let channel: any Channel
    private let counts = Counts()

    final class Counts: Sendable {
        let byType = Mutex<[FrameType: Int]>([:])
    }

    init(answer: @escaping @Sendable (Frame) -> Frame?) async throws {
        let counts = self.counts
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let sync = child.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(FrameDecoder()))
                    try sync.addHandler(MessageToByteHandler(FrameEncoder()))
                    try sync.addHandler(Handler(answer: answer, counts: counts))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    /// How many frames of `type` it has received.
    func received(_ type: FrameType) -> Int { counts.byType.withLock { $0[type, default: 0] } }

    func close() async { try? await channel.close() }

    private final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = Frame
        typealias OutboundOut = Frame
        let answer: @Sendable (Frame) -> Frame?
        let counts: Counts

        init(answer: @escaping @Sendable (Frame) -> Frame?, counts: Counts) {
            self.answer = answer
            self.counts = counts
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            counts.byType.withLock { $0[frame.type, default: 0] += 1 }
            if let reply = answer(frame) { context.writeAndFlush(wrapOutboundOut(reply), promise: nil) }
        }
    }
}
