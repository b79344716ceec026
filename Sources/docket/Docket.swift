public import ArgumentParser
import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketWire
import Foundation
public import Logging
import Synchronization

private let loggingBootstrapped = Atomic<Bool>(false)

@main
struct Docket: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docket",
        abstract: "An event-sourced ledger for coordinated vulnerability disclosure.",
        discussion: """
            Local mode works on a data directory (--data-dir or DOCKET_DATA_DIR, default ./docket-data).
            Exit status: 0 success, 1 the operation failed, 3 verification found damage or tampering, 64 bad usage.
            `docket --version` prints the version.
            """,
        subcommands: [
            Serve.self, Status.self, TokenGroup.self, ReportGroup.self, PolicyGroup.self, StateCommand.self, TimersCommand.self, HallOfFameCommand.self,
            MetricsCommand.self, HistoryCommand.self, CVSSCommand.self,
            Append.self, Read.self, Verify.self, Key.self, Checkpoint.self, ReceiptGroup.self, Replay.self, Export.self,
            Stats.self, Dict.self, Bench.self, Promote.self,
        ],
        // `-h` is made `--help` (`arguments(_:)`); the parser's own short name would find help in
        // any dash-led word with an h in it, and a note "-this" printed help and recorded nothing.
        helpNames: [.long]
    )

    static func main() async {
        MemoryFault.installHandlers()
        // Not ArgumentParser's version flag: that one is offered by every subcommand too, beside
        // their own `--version` options (`report release`, `dict export`).
        if CommandLine.arguments.dropFirst().elementsEqual(["--version"]) {
            print(DocketVersion.current)
            return
        }
        // Every failure is one line on stderr, `error: <code>: <message>`, or under --json one
        // JSON object, for the script that reads them: the argument parser's own (a missing
        // argument, an unknown option, a value that does not parse) included, as `usage` (without
        // its usage dump: the line names the option, and the command's --help lists them). Help
        // and the exits the commands chose keep their meaning.
        let arguments = arguments(CommandLine.arguments.dropFirst())
        do throws(CLIError) {
            try refuseInvalidUTF8()
            try refuseRepeatedOptions(arguments)
        } catch {
            reportError(error, line: error.message)
            exit(withError: ExitCode(error.exitCode))
        }
        do {
            var command = try await asyncParseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let status = exitCode(for: error)
            guard !status.isSuccess, !(error is ExitCode) else { exit(withError: error) }
            // (The parser lists an option's values one per line: one line, here.)
            var line = message(for: error).replacingOccurrences(of: ":\n  - ", with: ": ").replacingOccurrences(of: "\n  - ", with: ", ")
            if isParserUsage(error), let word = dashWord(in: arguments) { line += "; \(word)" }
            reportError(error, line: line)
            exit(withError: status)
        }
    }
}

extension Docket {
    /// Options whose value is free text, which may well begin with a dash ("-1 is the count"):
    /// the parser would take such a value for options of its own (and, with `-h` among its help
    /// names, for a request for help), so it is joined to its option (`--summary=-1 is …`).
    static let textOptions: Set<String> = ["--title", "--reporter-name", "--reason", "--question", "--summary", "--source", "--name"]

    /// Where the options end: at `--`, after which every word is an argument as written.
    private static func optionsEnd(_ words: [String]) -> Int { words.firstIndex(of: "--") ?? words.endIndex }

    /// The command line as the parser is given it, before any `--`: a dash-led value of a text
    /// option joined to it, and `-h` made `--help`. (The parser's help names are long only: with
    /// `-h` among them, any word that begins with one dash and holds an h, such as a note
    /// "-this", asked for help, and the command printed it, recorded nothing and exited 0.)
    static func arguments(_ given: some Sequence<String>) -> [String] {
        let words = Array(given)
        let end = optionsEnd(words)
        var out: [String] = []
        var i = 0
        while i < words.count {
            if i < end, textOptions.contains(words[i]), i + 1 < end, words[i + 1].hasPrefix("-"), !words[i + 1].hasPrefix("--") {
                out.append(words[i] + "=" + words[i + 1])
                i += 2
                continue
            }
            out.append(i < end && words[i] == "-h" ? "--help" : words[i])
            i += 1
        }
        return out
    }

    /// Text is recorded as given: an argument that is not UTF-8 would have its bytes replaced
    /// (`CommandLine.arguments` repairs them) and be recorded as something else.
    static func refuseInvalidUTF8() throws(CLIError) {
        for i in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[i], String(validatingCString: raw) == nil else { continue }
            throw CLIError(
                "argument \(i) (\(String(cString: raw).debugDescription)) is not valid UTF-8: docket takes text as UTF-8 and would record other bytes in its place; convert it first (iconv -t UTF-8)",
                exitCode: ExitCode.validationFailure.rawValue)
        }
    }

    /// The options that take a list, given once per value.
    static let repeatableOptions: Set<String> = ["--affected", "--cvss", "--cwe", "--version", "--pubkey"]

    /// An option given twice where it takes one value: the parser would keep the last one, and a
    /// slip (`--project aumos … --project aios`) would file a report where its reporter did not
    /// mean it to be, for that project's maintainers to read.
    static func refuseRepeatedOptions(_ arguments: [String]) throws(CLIError) {
        let end = optionsEnd(arguments)
        var seen: Set<Substring> = []
        for word in arguments[..<end] where word.hasPrefix("--") && word.count > 2 {
            let name = word.prefix { $0 != "=" }
            guard !repeatableOptions.contains(String(name)), !seen.insert(name).inserted else { continue }
            throw CLIError(
                "\(name) is given more than once; give it once (of docket's options, only \(repeatableOptions.sorted().joined(separator: ", ")) take a value each time they are given)",
                exitCode: ExitCode.validationFailure.rawValue)
        }
    }

    /// What to say, after the parser's refusal, of a word of `arguments` (as `arguments(_:)` made
    /// them) before any `--` that begins with one dash: no option of docket's does, so the parser
    /// took for options what was most likely a value: of the option before it, or an argument
    /// such as a note.
    static func dashWord(in arguments: [String]) -> String? {
        let end = optionsEnd(arguments)
        guard let i = arguments[..<end].firstIndex(where: { $0.hasPrefix("-") && !$0.hasPrefix("--") && $0.count > 1 }) else { return nil }
        let word = "\"\(arguments[i])\""
        if i > 0, arguments[i - 1].hasPrefix("--"), !arguments[i - 1].contains("=") {
            return "\(word) was read as an option, not as the value of \(arguments[i - 1]): write \(arguments[i - 1])=\(word)"
        }
        return "\(word) was read as an option: an argument that begins with a dash goes after `--`, at the end of the command line (… -- \(word))"
    }
}

/// Where the data lives and how much to log: shared by every local-mode command.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp("The node's data directory (or DOCKET_DATA_DIR; ./docket-data by default).", valueName: "dir"))
    var dataDirOption: String?

    var dataDir: String { dataDirOption ?? ProcessInfo.processInfo.environment["DOCKET_DATA_DIR"] ?? "./docket-data" }

    /// DOCKET_SERVER, when it is set: a command that works on a data directory only and would
    /// make one where there is none is refused without an explicit --data-dir (whoever set it
    /// meant the node, not a new ledger in the current directory).
    func refuseImplicitDirectoryBesideServer(_ command: String) throws {
        let environment = ProcessInfo.processInfo.environment
        guard dataDirOption == nil, environment["DOCKET_DATA_DIR"] == nil, let server = environment["DOCKET_SERVER"], !server.isEmpty else { return }
        throw CLIError(
            "DOCKET_SERVER is set (\(server)), but `\(command)` works on a data directory, not over the network: give --data-dir (the node's own, on its machine)",
            exitCode: ExitCode.validationFailure.rawValue)
    }

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical (error by default; info for `serve`)."))
    var logLevelOption: Logger.Level?

    /// The level asked for, else `error`: a command says what goes wrong, once, in its own error
    /// line (a failed append's refusal, which the store logs for a node at `warning`, included).
    var logLevel: Logger.Level {
        get { logLevelOption ?? .error }
        set { logLevelOption = newValue }
    }

    func validate() throws {
        guard !dataDir.isEmpty else { throw ValidationError("--data-dir (or DOCKET_DATA_DIR) must name a directory, not be empty") }
    }

    func bootstrapLogging() {
        // swift-log allows one bootstrap per process; a command may open more than one store.
        guard loggingBootstrapped.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// Opens the data directory. A command that records events (`startsLedger` false) refuses
    /// one that does not exist: a mistyped `--data-dir` would otherwise start a new, empty
    /// ledger, and the events recorded there would be missing from the real one. Serving a
    /// directory and making its first token or key start a ledger where there is none.
    func openStore(readOnly: Bool = false, startsLedger: Bool = false, logger: Logger? = nil, ledgerID: String? = nil) throws -> EventStore {
        var st = stat()
        if !readOnly, !startsLedger, stat(dataDir, &st) != 0, errno == ENOENT {
            throw CLIError(
                "not-found: no data directory at \(dataDir) (is --data-dir, or DOCKET_DATA_DIR, right?); a command that records events does not start a new ledger. "
                    + "Start one with `docket serve --data-dir \(dataDir)`, or create the directory (mkdir) to keep a ledger there without a node")
        }
        bootstrapLogging()
        var configuration = EventStore.Configuration()
        configuration.readOnly = readOnly
        configuration.ledgerID = ledgerID
        return try EventStore.open(directory: dataDir, configuration: configuration, logger: logger ?? Logger(label: "docket"))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// The bytes of the file at `path`, which the command line gave as `what` (a policy file, a
/// receipt): one that cannot be read fails saying why, its code `not-found` when there is no
/// such file and `unreadable` otherwise (a directory, a permission denied).
func readInputFile(_ path: String, what: String) throws -> Data {
    if let data = FileManager.default.contents(atPath: path) { return data }
    var st = stat()
    if stat(path, &st) != 0 {
        let why = errno
        if why == ENOENT { throw CLIError("not-found: no file at \(path) (the \(what))") }
        throw CLIError("unreadable: cannot read \(path) (the \(what)): \(String(cString: strerror(why)))")
    }
    if st.st_mode & S_IFMT == S_IFDIR { throw CLIError("unreadable: \(path) is a directory, not the \(what)") }
    let fd = open(path, O_RDONLY)
    let why = fd < 0 ? errno : EIO
    if fd >= 0 { close(fd) }
    throw CLIError("unreadable: cannot read \(path) (the \(what)): \(String(cString: strerror(why)))")
}

/// A node's `replication-timeout` answer to a write, made retryable from the command line: the
/// write is durable on the node but not acknowledged, and the retry the node asks for must carry
/// the same ids, which the command made up (run anew, it would make others: a second event, or a
/// second report). `retry` are the options that repeat them, said in the message; `details` adds
/// them to the answer's details for --json.
func retryableTimeout(_ body: ErrorBody, retry: [(option: String, value: String)], details added: [(key: String, value: Value)]) -> DocketClientError {
    var body = body
    body.message += "; to retry it, run the same command again with " + retry.map { "\($0.option) \($0.value)" }.joined(separator: " ")
    var details: [(key: String, value: Value)] = []
    if case .object(let members)? = body.details { details = members }
    body.details = .object(details + added)
    return .server(body)
}

/// A failure to report on stderr with a non-zero exit status, without a usage dump.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32 = 1
    /// What a script reads under `--json` beside the message (`details`): a policy's problems.
    var details: Value?

    init(_ message: String, exitCode: Int32 = 1, details: Value? = nil) {
        self.message = message
        self.exitCode = exitCode
        self.details = details
    }

    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning Docket errors into one line on stderr (`error: <code>: <message>`) and
    /// exit status 1 (or the `CLIError`'s); the argument parser's own errors keep their meaning.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch let error as CLIError {
            reportError(error, line: error.message)
            throw ExitCode(error.exitCode)
        } catch {
            reportError(error, line: describe(error))
            throw ExitCode(1)
        }
    }
}

/// Whether the command line asks for JSON (`--json`, or `--format json`): its errors are then a
/// JSON object too, for the script that reads them.
let jsonRequested: Bool = {
    let args = CommandLine.arguments.dropFirst().prefix { $0 != "--" }
    return args.contains("--json") || args.contains("--format=json") || zip(args, args.dropFirst()).contains { $0 == "--format" && $1 == "json" }
}()

/// Writes a failure to stderr: `line` as `error: <line>`, or under `--json` one JSON object,
/// `{"error": {"code", "message", "details"?}}` (`details` as the node gives them: the state and
/// allowed events of an `illegal-transition`, a leader to go to…).
func reportError(_ error: any Error, line: String) {
    guard jsonRequested else {
        // Bad usage says so, as under --json; a line that starts with its code keeps it.
        var text = line
        if !startsWithCode(line) {
            if isCLIUsage(error) {
                text = "usage: \(line)"
            } else if isParserUsage(error) {
                text = "usage: \(line) (see `\(commandPath()) --help`)"
            }
        }
        // Escaped line by line: a message may repeat what was given (a report id, a file name,
        // a receipt's field), which must not rewrite the terminal. (Under --json, JSON escapes it.)
        writeStandardError("error: \(UntrustedText.displayableLines(text))\n")
        return
    }
    let body: ErrorBody
    if case DocketClientError.server(let fromNode) = error {
        body = fromNode
    } else if let e = error as? PolicyError {
        body = ErrorBody(code: "policy", message: e.description)
    } else if let refusal = ErrorBody(refusal: error) {
        // As the node would answer it.
        body = refusal
    } else if startsWithCode(line), let colon = line.range(of: ": ") {
        // A `CLIError` whose line starts with a stable code.
        body = ErrorBody(code: String(line[..<colon.lowerBound]), message: String(line[colon.upperBound...]), details: (error as? CLIError)?.details)
    } else if isCLIUsage(error) || isParserUsage(error) {
        body = ErrorBody(code: "usage", message: line)
    } else {
        body = ErrorBody(code: "error", message: line)
    }
    writeStandardError(JSON.serialize(.object([("error", body.value)])) + "\n")
}

/// Bad usage the CLI found itself (a malformed option value, which the message names).
func isCLIUsage(_ error: any Error) -> Bool {
    (error as? CLIError)?.exitCode == ExitCode.validationFailure.rawValue
}

/// Bad usage the argument parser found (its message names the argument or option).
func isParserUsage(_ error: any Error) -> Bool {
    !(error is CLIError) && Docket.exitCode(for: error) == .validationFailure
}

/// Whether `line` starts with a stable code (`not-found: …`, `invalid-command: …`).
func startsWithCode(_ line: String) -> Bool {
    guard let colon = line.range(of: ": "), line.first?.isLetter == true else { return false }
    return line[..<colon.lowerBound].allSatisfy { $0.isLowercase || $0 == "-" }
}

/// The command the command line names, as its help names it (`docket report note`).
func commandPath() -> String {
    var command: any ParsableCommand.Type = Docket.self
    var path = ["docket"]
    for argument in CommandLine.arguments.dropFirst() {
        guard let sub = command.configuration.subcommands.first(where: { $0._commandName == argument }) else { break }
        command = sub
        path.append(argument)
    }
    return path.joined(separator: " ")
}

/// The one-line description of an error, with its stable code first where it has one.
func describe(_ error: any Error) -> String {
    if let e = error as? PolicyError { return "invalid policy\n\(e.description)" }
    if let body = ErrorBody(refusal: error) { return "\(body.code): \(body.message)" + commandsHint(body) }
    if case DocketClientError.server(let body) = error { return "\(body.code): \(body.message)" + commandsHint(body) }
    return "\(error)"
}

/// For an illegal transition, the `docket report` commands that record the events its state
/// allows (the message names the events, as the protocol does).
func commandsHint(_ body: ErrorBody) -> String {
    guard body.code == "illegal-transition", let allowed = body.details?["allowed"]?.arrayValue?.compactMap(\.stringValue), !allowed.isEmpty else {
        return ""
    }
    var verbs: [String] = []
    for event in allowed {
        guard let verb = reportVerbs[event], !verbs.contains(verb) else { continue }
        verbs.append(verb)
    }
    return verbs.isEmpty ? "" : " (the commands: " + verbs.map { "report " + $0 }.joined(separator: ", ") + ")"
}

/// The `docket report` command that records each report event.
let reportVerbs: [String: String] = [
    "ReportSubmitted": "submit", "ReportAcknowledged": "ack", "TriageStarted": "triage --start", "InfoRequested": "request-info",
    "ReporterResponded": "respond", "ReportTriaged": "triage", "SeverityChanged": "triage", "AssigneeChanged": "assign",
    "StatusUpdateSent": "status-update", "FixStarted": "fix-start", "FixMerged": "fix-merge", "FixReleased": "release",
    "CVERequested": "cve --request", "CVEAssigned": "cve --assign", "AdvisoryPublished": "publish", "DisclosureScheduled": "publish --schedule",
    "EmbargoExtended": "extend-embargo", "ExploitationObserved": "exploited", "CreditOffered": "credit --offer",
    "CreditAccepted": "credit --accept", "CreditDeclined": "credit --decline", "ReportClosed": "close", "ReportReopened": "reopen",
    "AdvisoryWithdrawn": "withdraw", "NoteAdded": "note",
]

/// Buffered standard output for commands that print many lines.
struct Output {
    private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 16) }

    mutating func line(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        writeStandardOutput(buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Writes all of `bytes` to `fd`, however many writes that takes; the error (`errno`) that
/// stopped it, if one did. (Foundation's `FileHandle.write` traps on an error instead, such as a
/// reader that went away, while the process ignores SIGPIPE for SwiftNIO.)
private func writeAll(_ bytes: [UInt8], to fd: Int32) -> Int32? {
    bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            if n > 0 {
                done += n
            } else if n < 0, errno == EINTR {
                continue
            } else {
                return n < 0 ? errno : EIO
            }
        }
        return nil
    }
}

/// Writes `text` to standard error, as much of it as can be written: a reader of it that went
/// away (`2>&1 | head`) leaves nothing to tell.
func writeStandardError(_ text: String) {
    _ = writeAll(Array(text.utf8), to: STDERR_FILENO)
}

/// Writes all of `bytes` to standard output. A reader that went away (`docket read | head`) ends
/// the process as SIGPIPE would, quietly.
func writeStandardOutput(_ bytes: [UInt8]) {
    guard let why = writeAll(bytes, to: STDOUT_FILENO) else { return }
    if why == EPIPE {
        signal(SIGPIPE, SIG_DFL)
        raise(SIGPIPE)
    }
    writeStandardError("error: writing standard output failed: \(String(cString: strerror(why)))\n")
    exit(1)
}

func printJSON(_ members: [(String, Value)]) {
    print(JSON.serialize(.object(members.map { (key: $0.0, value: $0.1) })))
}
