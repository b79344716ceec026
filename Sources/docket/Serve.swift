import ArgumentParser
import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketWire
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node on a data directory, serving the protocol of Schemas/protocol.md, until SIGINT, SIGTERM or SIGHUP (unless started ignoring it, as under nohup).",
        discussion: """
            Shutdown is graceful: the node stops accepting connections, finishes the requests in \
            progress (every acknowledged append is durable), then closes. Make the first admin token \
            with `docket token create --role admin --name NAME` on the data directory before serving \
            it, or have the node make it as it starts with --admin-token-file.
            """)

    @OptionGroup var store: StoreOptions

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "host:port"))
    var listen = "127.0.0.1:7411"

    @Option(help: ArgumentHelp("TLS certificate chain (PEM); with --tls-key.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS private key (PEM).", valueName: "file"))
    var tlsKey: String?

    @Option(help: "Most connections served at once.")
    var maxConnections = 1024

    @Option(help: "Most connections served at once from one IP address (handshaking ones included); a newcomer takes the place of the address's one handshaking longest.")
    var maxConnectionsPerAddress = 128

    @Option(help: "Most connections in their handshake (not yet authenticated) at once; a newcomer takes the place of the one handshaking longest.")
    var maxHandshaking = 256

    @Option(help: "Most requests in flight per connection.")
    var maxInFlight = 256

    @Option(help: ArgumentHelp("Close connections idle for this many seconds.", valueName: "seconds"))
    var idleTimeout: Int64 = 300

    @Option(help: "Threads answering view queries (each may replay the whole log); more queries wait their turn.")
    var viewThreads = 2

    @Option(help: ArgumentHelp(
        "If the ledger has no admin token that lets anyone in, make one as the node starts and write its secret to this file "
            + "(created 0600; an existing file is never overwritten). Store the token elsewhere and delete the file.",
        valueName: "file"))
    var adminTokenFile: String?

    @Option(help: "Who the admin token --admin-token-file makes is recorded as held by.")
    var adminName = "admin"

    @OptionGroup var replication: ReplicationOptions
    @OptionGroup var checkpoints: CheckpointScheduleOptions

    func validate() throws {
        guard viewThreads > 0 else { throw ValidationError("--view-threads must be positive") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard maxConnections > 0, maxConnectionsPerAddress > 0, maxHandshaking > 0 else {
            throw ValidationError("--max-connections, --max-connections-per-address and --max-handshaking must be positive")
        }
        guard HostPort(listen, allowingPortZero: true) != nil else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        try replication.check()
        if adminTokenFile != nil, replication.replicaOf != nil {
            throw ValidationError("--admin-token-file is for a leader: a follower writes nothing and holds the leader's tokens")
        }
    }

    /// Refuses an address this node could not listen on (one another process listens on, say),
    /// by binding it for a moment. (The node binds it again once its ledger is open: what takes
    /// the port in between is told then, as the node would be told anyway.)
    static func checkCanListen(host: String, port: Int) throws {
        guard port != 0 else { return }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else { return }  // the node says why
        defer { freeaddrinfo(found) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 else { return }
        let why = errno
        throw CLIError("cannot listen on \(host):\(port): \(String(cString: strerror(why)))\(DocketServer.listenAdvice(errno: why)); nothing was made")
    }

    /// Whether this process was started with SIGHUP ignored (`nohup docket serve …`): then a
    /// closed terminal must not stop it, and no handler is put in the ignoring's place.
    static var startedIgnoringHangUp: Bool {
        var current = sigaction()
        guard sigaction(SIGHUP, nil, &current) == 0 else { return false }
        // Function pointers compare by address (SIG_IGN is 1).
        return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
    }

    func run() async throws {
        try await reporting {
            var options = store
            // A node says what it does (listening, connections, checkpoints) unless told otherwise.
            if options.logLevelOption == nil { options.logLevel = .info }
            // Before the first logger is made: a logger takes its handler, and level, when made.
            options.bootstrapLogging()
            let logger = Logger(label: "docket.node")
            let address = HostPort(listen, allowingPortZero: true)!  // checked in validate()
            // Before anything is made: a node that cannot listen leaves no new ledger or admin token.
            try Self.checkCanListen(host: address.host, port: address.port)
            let store = try await replication.openStore(options, logger: logger)
            defer { store.close() }
            var configuration = ServerConfiguration()
            configuration.host = address.host
            configuration.port = address.port
            configuration.tlsCertificatePath = tlsCert
            configuration.tlsKeyPath = tlsKey
            configuration.maximumConnections = maxConnections
            configuration.maximumConnectionsPerAddress = maxConnectionsPerAddress
            configuration.maximumHandshakingConnections = maxHandshaking
            configuration.maximumInFlightPerConnection = maxInFlight
            configuration.idleTimeout = .seconds(idleTimeout)
            configuration.viewThreads = viewThreads
            configuration.replication = try replication.configuration(listen: listen)
            let ledger = Ledger(store: store, dataDir: options.dataDir)
            if let adminTokenFile {
                switch try await Tokens(ledger: ledger).bootstrapAdmin(secretFile: adminTokenFile, name: adminName) {
                case .created(let id):
                    logger.notice(
                        "made an admin token: the ledger had none that lets anyone in; its secret is in the file, readable by this user only",
                        metadata: ["token": "\(id)", "file": "\(adminTokenFile)"])
                case .adminExists(let id):
                    logger.info("the ledger has an admin token; --admin-token-file left alone", metadata: ["token": "\(id)"])
                }
            } else if replication.replicaOf == nil, try Tokens(ledger: ledger).usableAdmin() == nil {
                logger.warning("""
                    no admin token lets anyone in: nobody can make tokens or run admin requests. Restart with --admin-token-file FILE \
                    to have one made, or stop the node and run docket token create --role admin --name NAME on the data directory
                    """)
            }
            // A secret on a command line is shown to every user of the machine: said when it is for nothing.
            if replication.replicaOf == nil, replication.token != nil || replication.tokenFile != nil,
                let warning = DocketServer.unusedTokenWarning(ledger, option: replication.tokenFile != nil ? "--token-file" : "--token")
            {
                logger.warning("\(warning)")
            }
            let server = DocketServer(ledger: ledger, configuration: configuration, logger: logger)
            // The checkpointer goes first: a group stops services in reverse order, so it signs its
            // last checkpoint after the server has drained.
            let checkpointer = try checkpoints.service(ledger: server.ledger, logger: logger)
            let group = ServiceGroup(configuration: .init(
                services: (checkpointer.map { [.init(service: $0)] } ?? []) + [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint] + (Self.startedIgnoringHangUp ? [] : [.sighup]), logger: logger))
            try await group.run()
            // The last line: after the server has drained and the checkpointer signed its last.
            logger.notice("stopped", metadata: ["events": "\(store.head.sequence)"])
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A node's version, role, last sequence, connections and append rate.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions

    func run() async throws {
        try await reporting {
            guard let client = try store.client(remote) else {
                let store = try self.store.openStore(readOnly: true)
                defer { store.close() }
                printJSON([("version", .string(DocketVersion.current)), ("role", "local"), ("ledger", .string(store.ledgerID)), ("lastSequence", .int(Int64(store.head.sequence)))])
                return
            }
            print(JSON.serialize(try await client.using { try await $0.status() }))
        }
    }
}

struct TokenGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Access tokens: the secret is printed once and stored only as a hash.",
        subcommands: [Create.self, Revoke.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token and print its secret (once).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @Option(name: .customLong("role"), help: "admin, maintainer, reporter, replica or auditor.") var roleName: String
        @Option(help: "The project (maintainer tokens only).") var project: String?
        @Option(help: "Who holds it: the name their events are recorded under (a reporter's handle for reporter tokens).") var name: String
        @Option(help: ArgumentHelp("Expire after this span (like 90d).", valueName: "span")) var expires: String?
        @Flag(
            help: ArgumentHelp(
                "A replica token for a node that may take over as leader: with it, once promoted, that node deposes the old leader.",
                discussion: "Without it a replica token only reads: give those to copies held elsewhere (another organisation's, an auditor's), which must not be able to stop the leader taking reports."))
        var standby = false
        @Flag(help: "Print JSON.") var json = false

        var role: Role { Role(rawValue: roleName)! }

        func validate() throws {
            guard Role(rawValue: roleName) != nil else {
                throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if standby, role != .replica { throw ValidationError("--standby is for replica tokens (--role replica)") }
        }

        func run() async throws {
            try await reporting {
                let expiresAt = try expires.map { Timestamp.now() + (try parseSpan($0, what: "--expires", allowZero: false)) }
                let id: String
                let secret: String
                let sameHandle: [String]
                let formerHandle: [String]
                var recordedStandby: Bool
                if let client = try store.client(remote) {
                    var args: [(key: String, value: Value)] = [("role", .string(role.rawValue)), ("name", .string(name))]
                    if let project { args.append(("project", .string(project))) }
                    if let expiresAt { args.append(("expiresAt", .string(expiresAt.rfc3339))) }
                    if standby { args.append(("standby", .bool(true))) }
                    let r: Value
                    do {
                        r = try await client.using { try await $0.admin("token-create", args) }
                    } catch DocketClientError.server(let body) where body.code == "replication-timeout" && !json {
                        // Made and working on this node, its followers not confirming in time:
                        // the secret is in the error's details, which a line of text would drop,
                        // and it is shown nowhere else (protocol.md §17.8).
                        if let token = body.details?["token"]?.stringValue { print(token) }
                        throw CLIError(
                            "replication-timeout: \(body.message) (the token's secret is printed above: store it, or revoke the token; do not make another)")
                    }
                    id = r["id"]?.stringValue ?? ""
                    secret = r["token"]?.stringValue ?? ""
                    // What the node recorded: one before 0.3.1 records no standby status, and later
                    // releases take such a replica token for a standby's (as all could depose then).
                    recordedStandby = r["standby"]?.boolValue ?? (role == .replica)
                    if role == .replica, r["standby"] == nil {
                        writeStandardError(
                            "warning: the node recorded no standby status (a release before 0.3.1): nodes of 0.3.1 and later take token \(id) for a standby's, which may depose the leader. If it is for a copy held elsewhere, revoke it and make it again once the leader is upgraded\n")
                    }
                    sameHandle = r["sameHandle"]?.arrayValue?.compactMap(\.stringValue) ?? []
                    formerHandle = r["formerHandle"]?.arrayValue?.compactMap(\.stringValue) ?? []
                } else {
                    // The first admin token is made on the directory before it is first served.
                    let store = try self.store.openStore(startsLedger: true)
                    defer { store.close() }
                    let tokens = Tokens(ledger: Ledger(store: store, dataDir: self.store.dataDir))
                    let (record, s) = try await tokens.create(
                        role: role, project: project, subject: name, expiresAt: expiresAt, standby: standby, by: .local(actor: "operator"))
                    id = record.id
                    secret = s
                    recordedStandby = record.standby
                    // Made and recorded already: a failure to say who shares its handle must not lose its secret.
                    let holders = (try? tokens.holders(ofHandleOf: record)) ?? Tokens.HandleHolders()
                    (sameHandle, formerHandle) = (holders.inUse.map(\.id), holders.former.map(\.id))
                }
                if json {
                    var fields: [(key: String, value: Value)] = [("id", .string(id)), ("role", .string(role.rawValue)), ("token", .string(secret))]
                    if role == .replica { fields.append(("standby", .bool(recordedStandby))) }
                    if !sameHandle.isEmpty { fields.append(("sameHandle", .array(sameHandle.map { .string($0) }))) }
                    if !formerHandle.isEmpty { fields.append(("formerHandle", .array(formerHandle.map { .string($0) }))) }
                    printJSON(fields)
                } else {
                    print(secret)
                    let standing = role != .replica ? "" : recordedStandby ? "; a standby's: its node, promoted, deposes the old leader" : "; only reads: it cannot depose a leader, so its node is no standby (--standby makes one)"
                    writeStandardError("token \(id) (\(role)\(project.map { " of \($0)" } ?? "") for \(UntrustedText.displayable(name)))\(standing): shown once; store it now\n")
                }
                if !sameHandle.isEmpty {
                    // Rotation is one person's second token; two people given one handle would read each other's reports.
                    writeStandardError(
                        "warning: reporter token\(sameHandle.count == 1 ? "" : "s") \(sameHandle.joined(separator: ", ")) also hold\(sameHandle.count == 1 ? "s" : "") the handle \(UntrustedText.displayable(name)): this token sees and acts on the same reports. If it is for someone else, revoke it (docket token revoke \(id)) and give them a handle of their own\n")
                } else if !formerHandle.isEmpty {
                    // A handle given again: whoever holds it now reads what its earlier holder reported.
                    writeStandardError(
                        "warning: reporter token\(formerHandle.count == 1 ? "" : "s") \(formerHandle.joined(separator: ", ")), revoked or expired, held the handle \(UntrustedText.displayable(name)): this token sees and acts on the reports filed under it. If it is not for the same person, revoke it (docket token revoke \(id)) and give them a handle of their own\n")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id; connections using it are closed within a second (on a follower, of the revocation reaching it), and it is refused at every handshake after.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @Argument(help: "The token id (the 12 hex digits after dkt_).") var id: String
        @Flag(help: "Revoke it even if it is the last admin token that lets anyone in (nobody could then run admin requests until the node is restarted with --admin-token-file).")
        var lastAdmin = false

        func run() async throws {
            try await reporting {
                if let client = try store.client(remote) {
                    _ = try await client.using { try await $0.admin("token-revoke", [("id", .string(id)), ("lastAdmin", .bool(lastAdmin))]) }
                } else {
                    let store = try self.store.openStore()
                    defer { store.close() }
                    try await Tokens(ledger: Ledger(store: store, dataDir: self.store.dataDir)).revoke(id: id, by: .local(actor: "operator"), lastAdmin: lastAdmin)
                }
                print("revoked token \(id)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (ids, roles, holders; never secrets).")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await reporting {
                let store = try self.store.openStore(readOnly: true)
                defer { store.close() }
                let records = try Tokens(ledger: Ledger(store: store, dataDir: nil)).records().values.sorted { $0.createdAt < $1.createdAt }
                // STANDBY: whether a replica token's node may take over as leader (and depose the old one).
                printTable(["ID", "ROLE", "PROJECT", "NAME", "CREATED", "EXPIRES", "REVOKED", "STANDBY"], records.map { r in
                    [
                        r.id, r.role.rawValue, r.project ?? "-", r.subject, r.createdAt.rfc3339, r.expiresAt?.rfc3339 ?? "-", r.revokedAt?.rfc3339 ?? "-",
                        r.role == .replica ? (r.standby ? "yes" : "no") : "-",
                    ]
                })
            }
        }
    }
}

