import Foundation

/// One process at a time may open a ledger for writing.
///
/// The store keeps what it must not re-read on every append in memory: the head and its chain
/// hash, the stream versions not yet in the stream index. A second process appending to the same
/// directory would make both stale. The first process to append then fails every append, and
/// stream versions can end up given twice. So a writable open takes an exclusive `flock` on the
/// `ledger/` directory and on `ledger/writer.lock` (storage.md §1), and a second writable open is
/// refused at once with `in-use`. Read-only opens take no lock: LMDB gives them a consistent
/// snapshot beside a writer.
///
/// The directory's lock is the one that counts: a lock file deleted while its holder runs (by an
/// operator clearing what looks like a stale lock) would let the next writer lock a new file of
/// the same name, and two writers would then both append, losing acknowledged events and
/// breaking the chain. The directory cannot be deleted from under the holder without deleting the
/// ledger in it. The file's lock is kept for what it says: the holder's pid, for the refusal; and
/// for builds that lock the file alone, which a writer of this build still keeps out.
///
/// The kernel drops both locks when the process ends, however it ends, so a killed node leaves
/// nothing to clean up.
final class WriterLock: Sendable {
    private let descriptor: Int32
    private let directoryDescriptor: Int32

    /// Takes the lock for the data directory `directory`, whose ledger environment is at `ledger`.
    init(directory: String, ledger: String) throws(StoreError) {
        let path = ledger + "/writer.lock"
        let dirFD = open(ledger, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else {
            let why = errno
            if why == EACCES { throw StoreError(.io, EventStore.permissionRefusal(ledger, directory: directory, action: "open")) }
            throw StoreError(.io, "cannot open \(ledger): \(String(cString: strerror(why)))")
        }
        /// The refusal of a second writer, naming the holder's pid where its lock file still gives it.
        func inUse() -> StoreError {
            // The holder wrote its process id when it took the lock (read only: a lock file
            // deleted since is not made again, empty, by the process it keeps out).
            var pid = ""
            let reader = open(path, O_RDONLY | O_CLOEXEC)
            if reader >= 0 {
                var buffer = [UInt8](repeating: 0, count: 32)
                let n = pread(reader, &buffer, buffer.count, 0)
                if n > 0 { pid = String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
                close(reader)
            }
            let holder = pid.isEmpty ? " (its writer.lock, which names it, was removed; `fuser -v \(ledger)/data.mdb` lists the processes that have the ledger open)" : " (pid \(pid))"
            return StoreError(
                .inUse,
                "\(directory) is open for writing by another Docket process\(holder): a node serving it, or a "
                    + "command still running. Send the command to that node (--server HOST:PORT), or stop it first; read-only "
                    + "commands (read, verify, stats, views) can run beside it")
        }
        // A few tries a millisecond apart: a reader asking whether a writer holds it (`isHeld`)
        // holds a shared lock for an instant, and a writer starting then is not refused for it.
        var tries = 1
        while flock(dirFD, LOCK_EX | LOCK_NB) != 0 {
            let why = errno
            guard why == EWOULDBLOCK, tries < 5 else {
                close(dirFD)
                throw why == EWOULDBLOCK ? inUse() : StoreError(.io, "cannot lock \(ledger): \(String(cString: strerror(why)))")
            }
            tries += 1
            usleep(1000)
        }
        // `flock` needs only an open descriptor: a lock file another user made (root, opening a
        // ledger it then gave to the node's user, say) is opened for reading, and then holds no pid.
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0, errno == EACCES { fd = open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            let why = errno
            close(dirFD)
            if why == EACCES { throw StoreError(.io, EventStore.permissionRefusal(path, directory: directory, action: "open")) }
            throw StoreError(.io, "cannot open \(path): \(String(cString: strerror(why)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let why = errno
            close(dirFD)
            close(fd)
            guard why == EWOULDBLOCK else {
                throw StoreError(.io, "cannot lock \(path): \(String(cString: strerror(why)))")
            }
            // An older build holds the file alone.
            throw inUse()
        }
        let pid = "\(getpid())\n"
        if ftruncate(fd, 0) == 0 { _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) } }
        descriptor = fd
        directoryDescriptor = dirFD
    }

    /// Whether a process holds the writer's lock on `ledger` now. (Asked with a shared lock
    /// taken and dropped at once, which a writer starting in that instant tries again past.)
    static func isHeld(ledger: String) -> Bool {
        let fd = open(ledger, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    deinit {
        // Unlocked first: closing the descriptor alone would leave the lock held while a child
        // process forked meanwhile (say, by another thread spawning a command) still has its copy
        // of the descriptor, until that child reaches exec, and reopening the directory in this
        // process would be refused as "open for writing by another Docket process".
        flock(descriptor, LOCK_UN)
        flock(directoryDescriptor, LOCK_UN)
        close(descriptor)
        close(directoryDescriptor)
    }
}
