import Foundation
import Synchronization

/// Tells apart the temporary files of writes made at once by two threads of one process.
private let temporaryFiles = Atomic<UInt64>(0)

/// Writes `bytes` to `path` whole or not at all: into a file of this process's own, created with
/// `mode` from the start (so it is never readable more widely for a moment), then renamed over
/// `path`. `durable`: the file is synced before the rename, and its directory after it.
/// `exclusive`: a file already at `path` is left as it is and the write fails (an `io` error saying so)
/// — the new file is linked in, which does not replace one, rather than renamed over it.
public func writeFileAtomically(_ bytes: [UInt8], to path: String, mode: Int, durable: Bool, exclusive: Bool = false) throws(StoreError) {
    let tmp = path + ".tmp-\(getpid())-\(temporaryFiles.add(1, ordering: .relaxed).newValue)"
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
        do { try syncDirectory(of: path) } catch {
            // A file this write put in place for the first time is taken back, so that the
            // failure leaves nothing (a token file with no record behind it, say).
            if exclusive { unlink(path) }
            throw error
        }
    }
}

/// Syncs the directory holding `path`, so that a file created or renamed there stays there
/// through a power cut, not only its bytes.
public func syncDirectory(of path: String) throws(StoreError) {
    let name = (path as NSString).deletingLastPathComponent
    let directory = open(name.isEmpty ? "." : name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard directory >= 0 else { throw StoreError(.io, "cannot sync the directory of \(path): \(String(cString: strerror(errno)))") }
    defer { close(directory) }
    // Some file systems cannot sync a directory (EINVAL): there is nothing more to do on them.
    guard fsync(directory) == 0 || errno == EINVAL else {
        throw StoreError(.io, "cannot sync the directory of \(path): \(String(cString: strerror(errno)))")
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
    // A write may take fewer bytes than given (a signal, a file system's own limit): go on
    // until all are written or one fails.
    var failure: Int32 = 0
    bytes.withUnsafeBytes { b in
        var done = 0
        while done < b.count {
            let n = write(fd, b.baseAddress! + done, b.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                failure = n < 0 ? errno : EIO
                return
            }
            done += n
        }
    }
    if failure == 0, durable, fsync(fd) != 0 { failure = errno }
    if close(fd) != 0, failure == 0 { failure = errno }
    guard failure == 0 else {
        unlink(path)
        throw StoreError(.io, "cannot write \(path): \(String(cString: strerror(failure)))")
    }
}
