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
            """,
        version: "0.1.0",
        subcommands: [
            Serve.self, Status.self, TokenGroup.self, ReportGroup.self, PolicyGroup.self, StateCommand.self, TimersCommand.self, HallOfFameCommand.self,
            MetricsCommand.self, HistoryCommand.self, CVSSCommand.self,
            Append.self, Read.self, Verify.self, Key.self, Checkpoint.self, Stats.self, Dict.self, Bench.self,
        ]
    )
}

/// Where the data lives and how much to log: shared by every local-mode command.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The node's data directory.", valueName: "dir"))
    var dataDir: String = ProcessInfo.processInfo.environment["DOCKET_DATA_DIR"] ?? "./docket-data"

    @Option(name: .long, help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical."))
    var logLevel: Logger.Level = .warning

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

    func openStore(readOnly: Bool = false, logger: Logger? = nil) throws -> EventStore {
        bootstrapLogging()
        var configuration = EventStore.Configuration()
        configuration.readOnly = readOnly
        do {
            return try EventStore.open(directory: dataDir, configuration: configuration, logger: logger ?? Logger(label: "docket"))
        } catch {
            throw CLIError(error)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A failure to report on stderr with a non-zero exit status, without a usage dump.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32 = 1

    init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    init(_ error: StoreError) {
        self.message = "\(error.code): \(error.message)"
    }

    init(_ error: CoreError) {
        self.message = "\(error.code): \(error.message)"
    }

    init(_ error: DomainError) {
        self.message = "\(error.code): \(error.message)"
    }

    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning Docket errors into a message on stderr and an exit status.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as CLIError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(error.exitCode)
        } catch let error as StoreError {
            FileHandle.standardError.write(Data("error: \(CLIError(error).message)\n".utf8))
            throw ExitCode(1)
        } catch let error as CoreError {
            FileHandle.standardError.write(Data("error: \(CLIError(error).message)\n".utf8))
            throw ExitCode(1)
        } catch let error as DomainError {
            FileHandle.standardError.write(Data("error: \(CLIError(error).message)\n".utf8))
            throw ExitCode(1)
        } catch let error as DocketClientError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        } catch let error as Forbidden {
            FileHandle.standardError.write(Data("error: forbidden: \(error.message)\n".utf8))
            throw ExitCode(1)
        } catch let error as MessageError {
            FileHandle.standardError.write(Data("error: bad-request: \(error.message)\n".utf8))
            throw ExitCode(1)
        } catch let error as PolicyError {
            FileHandle.standardError.write(Data("error: invalid policy\n\(error.description)\n".utf8))
            throw ExitCode(1)
        } catch let error as ExitCode {
            throw error
        } catch let error as ServerError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

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
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}

func printJSON(_ members: [(String, Value)]) {
    print(JSON.serialize(.object(members.map { (key: $0.0, value: $0.1) })))
}
