import Foundation

/// LMDB reads the data file through a memory map and trusts what it finds there: a data file
/// damaged in a page header or a node offset can make it read outside the map, and the process
/// dies of SIGBUS or SIGSEGV. Swift's crash report would then print registers and stack memory,
/// which can hold record contents, to a terminal or a node's log. Instead the process says what
/// most likely happened and where to look, and dies of the same signal, with no report.
///
/// Not when `SWIFT_BACKTRACE` is set: whoever sets it wants the runtime's report (and `verify`'s
/// child process, which sets it off, reports a crash as damage itself).
enum MemoryFault {
    /// The message, made before any handler can run: a signal handler may not allocate.
    nonisolated(unsafe) private static var message: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var length = 0

    static func installHandlers() {
        guard ProcessInfo.processInfo.environment["SWIFT_BACKTRACE"] == nil else { return }
        let text = """
            docket: stopped by a read of memory it could not read (SIGBUS or SIGSEGV). The most likely cause is a \
            damaged data file (ledger/data.mdb): check it with `docket verify --data-dir DIR`, which answers without \
            crashing. (No crash report: it would show memory that can hold record contents; set \
            SWIFT_BACKTRACE=enable=yes to get one.)

            """
        message = strdup(text)
        length = strlen(message!)
        for signal in [SIGBUS, SIGSEGV] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { received in
                if let message = MemoryFault.message { _ = write(STDERR_FILENO, message, MemoryFault.length) }
                // The default action once the handler returns: the faulting access repeats, and
                // the process dies of the signal, as it would have.
                Foundation.signal(received, SIG_DFL)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, nil)
        }
    }
}
