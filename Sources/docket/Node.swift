import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketWire
import Foundation

/// Where a command runs: against a local data directory (as its administrator), or against a
/// node over the network with a token (`--server`, `DOCKET_SERVER`). Both answer with the same
/// values, so the commands print the same thing either way.
enum Node {
    case local(Ledger, actor: String)
    case remote(DocketClient)

    func close() async {
        switch self {
        case .local(let ledger, _): ledger.store.close()
        case .remote(let client): await client.close()
        }
    }

    /// Runs `body`, then closes the node, whether `body` threw or not.
    func using<T>(_ body: (Node) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }

    /// COMMAND_RESULT-shaped: report, state, events, seq, version, duplicate.
    func execute(_ command: ReportCommand, report: String, at: Timestamp?, eventID: EventID?, creditFromPolicy: Bool = false) async throws -> Value {
        switch self {
        case .local(let ledger, let actor):
            return try await ledger.execute(command, report: report, as: .local(actor: actor), at: at, eventID: eventID, creditFromPolicy: creditFromPolicy).wireValue
        case .remote(let client):
            return try await client.command(command, report: report, at: at, eventID: eventID, creditFromPolicy: creditFromPolicy)
        }
    }

    func query(_ query: ViewQuery, asOf: AsOfSpec) async throws -> Value {
        switch self {
        case .local(let ledger, let actor):
            let answer = try ledger.query(query, asOf: asOf, as: .local(actor: actor))
            // A follower's data directory read here holds what it had replicated when it last
            // ran: said as a node that is not following says it (protocol.md §8.6).
            guard ledger.store.nodeState.role == .follower, case .object(let members) = answer else { return answer }
            return .object(members + [("replication", .object([("state", .string("read from a follower's data directory, not from its node")), ("lag", .null)]))])
        case .remote(let client): return try await client.query(query, asOf: asOf)
        }
    }
}

/// `--server HOST:PORT` and `--token`, for every command that can run remotely.
struct RemoteOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: ArgumentHelp("A node to talk to instead of the local data directory (or DOCKET_SERVER); after a comma, the ledger's other nodes, which a not-leader or fenced answer may redirect to (no others).", valueName: "host:port[,host:port…]"))
    var serverOption: String?

    @Option(name: .customLong("token"), help: ArgumentHelp("The access token for --server (or --token-file, or DOCKET_TOKEN: a command line is visible to every user of the machine).", valueName: "token"))
    var tokenOption: String?

    @Option(help: ArgumentHelp("A file holding the access token for --server (its first line).", valueName: "file"))
    var tokenFile: String?

    var server: String? { serverOption ?? ProcessInfo.processInfo.environment["DOCKET_SERVER"].flatMap { $0.isEmpty ? nil : $0 } }

    /// --token, else the token in --token-file (an unreadable file is an error, never a fall back
    /// to DOCKET_TOKEN, which may be someone else's), else DOCKET_TOKEN.
    func token() throws -> String? {
        if let tokenFile { return try readTokenFile(tokenFile) }
        return tokenOption ?? ProcessInfo.processInfo.environment["DOCKET_TOKEN"]
    }

    func validate() throws {
        if let tokenFile {
            guard tokenOption == nil else { throw ValidationError("give --token or --token-file, not both") }
            _ = try readTokenFile(tokenFile)
        }
    }

    @Flag(help: "Use TLS with --server.")
    var tls = false

    @Option(help: ArgumentHelp("The CA certificate (PEM) that signed the node's certificate, with --tls.", valueName: "file"))
    var tlsCA: String?

    /// A client error's words without "connection-lost: ", which a malformed address is not.
    private static func withoutPrefix(_ error: any Error) -> String {
        guard case .connectionLost(let why)? = error as? DocketClientError else { return "\(error)" }
        return why
    }

    /// A token given on the command line: one that is not used would mean the command ran on a
    /// data directory when a node was meant.
    var tokenGiven: Bool { tokenOption != nil || tokenFile != nil }

    func client() throws -> DocketClient? {
        let usage = ExitCode.validationFailure.rawValue
        guard let server else {
            if tokenGiven {
                throw CLIError(
                    "\(tokenFile != nil ? "--token-file" : "--token") is for a node: give --server HOST:PORT (or set DOCKET_SERVER) as well; without them the command works on a local data directory (--data-dir), which needs no token",
                    exitCode: usage)
            }
            return nil
        }
        guard let token = try token(), !token.isEmpty else { throw CLIError("--server needs a token: --token, --token-file or DOCKET_TOKEN", exitCode: usage) }
        var configuration: DocketClient.Configuration
        do { configuration = try DocketClient.Configuration(address: server, token: token) } catch {
            throw CLIError("--server (or DOCKET_SERVER) \(server): \(Self.withoutPrefix(error))", exitCode: usage)
        }
        if let tlsCA, !FileManager.default.isReadableFile(atPath: tlsCA) {
            throw CLIError("cannot read --tls-ca \(tlsCA) (the CA certificate, PEM, that signed the node's certificate)", exitCode: usage)
        }
        configuration.useTLS = tls || tlsCA != nil
        configuration.trustRootsPath = tlsCA
        return DocketClient(configuration)
    }
}

import ArgumentParser

extension StoreOptions {
    /// The client for a command that runs remotely: with --server, or DOCKET_SERVER unless an
    /// explicit --data-dir says to work locally (the option beats the environment); nil for local
    /// mode. --server and --data-dir together are bad usage.
    func client(_ remote: RemoteOptions) throws -> DocketClient? {
        guard dataDirOption != nil else { return try remote.client() }
        if remote.serverOption != nil { throw ValidationError("give --server or --data-dir, not both: a command runs against a node or on a data directory") }
        if remote.tokenGiven {
            throw CLIError(
                "--data-dir and a token do not go together: a command on a data directory needs no token; to act on a node, give --server instead of --data-dir",
                exitCode: ExitCode.validationFailure.rawValue)
        }
        return nil
    }

    /// The node a command runs against: remote with --server, else the local data directory.
    func node(_ remote: RemoteOptions, actor: String, readOnly: Bool = false, viewCheckpoints: Bool = true) throws -> Node {
        if let client = try client(remote) {
            // The node records the token's holder as the actor: an --actor given as well would
            // be dropped without a word, and a script would believe it recorded.
            if CommandLine.arguments.contains(where: { $0 == "--actor" || $0.hasPrefix("--actor=") }) {
                writeStandardError("warning: --actor is for local mode: with --server the node records the event as the token holder's\n")
            }
            return .remote(client)
        }
        // The actor who records, in local mode, is a handle held to the rules of handles as a
        // token's name is: the lifecycle lets the actor name themselves as they are named ("@zed"
        // would pass as zed's reporter handle).
        if !readOnly, let refusal = UntrustedText.stackRefusal(actor, field: "--actor") ?? UntrustedText.identityRefusal(actor, field: "--actor", kind: .handle) {
            throw CLIError(refusal, exitCode: ExitCode.validationFailure.rawValue)
        }
        let store = try openStore(readOnly: readOnly)
        return .local(Ledger(store: store, dataDir: dataDir, viewCheckpoints: viewCheckpoints), actor: actor)
    }
}

extension DocketClient {
    /// Runs `body`, then closes the client, whether `body` threw or not.
    func using<T>(_ body: (DocketClient) async throws -> T) async throws -> T {
        try await Node.remote(self).using { _ in try await body(self) }
    }
}

/// The token in `path`: its first line that is not blank, without surrounding space (a file keeps
/// it out of the command line, which every user of the machine can read in the process list).
func readTokenFile(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read the token file \(path)")
    }
    var text = String(decoding: data, as: UTF8.self)
    if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // a byte-order mark some editors write
    let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
    guard let token = lines.first(where: { !$0.isEmpty }) else { throw ValidationError("the token file \(path) holds no token") }
    return token
}
