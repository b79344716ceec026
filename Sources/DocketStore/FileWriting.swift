import Foundation

/// Writes `bytes` to `path` whole or not at all: into a file of this process's own, created with
/// `mode` from the start (so it is never readable more widely for a moment), then renamed over
/// `path`. `durable`: the file is synced before the rename, and its directory after it.
/// `exclusive`: a file already at `path` is left as it is and the write fails (an `io` error saying so)
/// — the new file is linked in, which does not replace one, rather than renamed over it.
public func writeFileAtomically(_ bytes: [UInt8], to path: String, mode: Int, durable: Bool, exclusive: Bool = false) throws(StoreError) {
    let tmp = path + ".tmp-\(getpid())"
    unlink(tmp)  // one left by a crashed process that had this pid
    try writeNewFile(bytes, to: tmp, mode: mode, durable: durable)
    if exclusive ? link(tmp, path) != 0 : rename(tmp, path) != 0 {
        let failure = errno
        unlink(tmp)
        if exclusive, failure == EEXIST { throw StoreError(.io, "\(path) already exists; it was left as it is") }
        guard exclusive, [EPERM, ENOTSUP, EOPNOTSUPP, EXDEV, EMLINK].contains(failure) else {
            throw StoreError(.io, "cannot write \(path): \(String(cString: strerror(failure)))")
        }
        // A file system without hard links: the file is created in place instead, still only if
        // none is there (a crash midway can leave it short; it is never readable more widely).
        try writeNewFile(bytes, to: path, mode: mode, durable: durable)
    } else if exclusive {
        unlink(tmp)
    }
    if durable {
        let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }
}

/// `bytes` written to a new file at `path`, created with `mode` (a file already there is left as
/// it is and the write fails), synced if `durable`; removed again if the write fails.
private func writeNewFile(_ bytes: [UInt8], to path: String, mode: Int, durable: Bool) throws(StoreError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
    guard fd >= 0 else {
        let why = errno
        if why == EEXIST { throw StoreError(.io, "\(path) already exists; it was left as it is") }
        throw StoreError(.io, "cannot write \(path): \(String(cString: strerror(why)))")
    }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    let why = errno
    let synced = !durable || fsync(fd) == 0
    let closed = close(fd) == 0
    guard written == bytes.count, synced, closed else {
        let failure = written < 0 ? why : errno
        unlink(path)
        throw StoreError(.io, "cannot write \(path): \(String(cString: strerror(failure)))")
    }
}
