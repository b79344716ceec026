#if canImport(Glibc)
import Glibc
#endif
import DocketWire
import Foundation
import NIOCore
import Synchronization

/// A TCP proxy on 127.0.0.1 in front of a node. It passes frames both ways until told to drop an
/// answer (`dropNextAnswer`): then the node's next answer to an append or a command is not passed
/// on, and the client's connection is closed instead. That is an answer lost on its way back
/// after the node recorded what was asked, which a client can only meet by asking again.
final class AnswerDroppingProxy: @unchecked Sendable {  // sockets, and atomics
    let port: Int
    /// Drop the next APPENDED or COMMAND_RESULT frame (and the connection it was on).
    let dropNextAnswer = Atomic<Bool>(false)
    /// Answers dropped so far.
    let dropped = Atomic<Int>(0)
    private let listener: Int32
    private let upstream: Int

    init(upstream: Int) throws {
        self.upstream = upstream
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw SocketError(errno: errno)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        let accepting = Thread { [self] in acceptLoop() }
        accepting.start()
    }

    /// Stops taking connections (those open run until either side closes).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let node = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = Self.loopback(port: upstream)
            let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(node, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard connected == 0 else {
                close(client)
                close(node)
                continue
            }
            // Each direction shuts both sockets down as it ends, which ends the other; the second
            // to end closes them, so neither shuts down a descriptor already closed and reused.
            let ended = Atomic<Int>(0)
            @Sendable func end() {
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(node, Int32(SHUT_RDWR))
                if ended.add(1, ordering: .acquiringAndReleasing).newValue == 2 {
                    close(client)
                    close(node)
                }
            }
            Thread {
                Self.copy(from: client, to: node)
                end()
            }.start()
            Thread { [self] in
                answers(from: node, to: client)
                end()
            }.start()
        }
    }

    /// The client's bytes to the node as they come, until either side closes.
    private static func copy(from source: Int32, to destination: Int32) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(source, &chunk, chunk.count, 0)
            guard n > 0, send(destination, chunk, n, Int32(MSG_NOSIGNAL)) == n else { return }
        }
    }

    /// The node's frames to the client, but for an answer to drop, which ends them.
    private func answers(from node: Int32, to client: Int32) {
        var decoder = FrameDecoder()
        var buffer = ByteBuffer()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(node, &chunk, chunk.count, 0)
            guard n > 0 else { return }
            buffer.writeBytes(chunk[0..<n])
            while let frame = try? decoder.decodeFrame(&buffer) {
                if frame.type == .appended || frame.type == .commandResult,
                    dropNextAnswer.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged
                {
                    dropped.add(1, ordering: .relaxed)
                    return
                }
                let bytes = FrameEncoder.bytes(frame)
                guard send(client, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { return }
            }
        }
    }
}
