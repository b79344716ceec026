import ArgumentParser
import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketWire
import Foundation
import Logging

/// `docket serve` options for replication (DESIGN §6).
struct ReplicationOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Follow this leader: catch up, then tail it; serve reads and views, refuse writes (naming the leader). A new data directory becomes a copy of the leader's ledger. After a comma, the ledger's other nodes: the only ones a not-leader or fenced answer may send it to.",
        valueName: "host:port[,host:port…]"))
    var replicaOf: String?

    /// The leader `--replica-of` names first, and the ledger's other nodes after it.
    var replicaAddresses: (leader: String, nodes: [String])? {
        guard let replicaOf, case .success(let parsed) = HostPort.list(replicaOf) else { return nil }
        return (parsed.first, parsed.others)
    }

    @Option(help: ArgumentHelp("The token for --replica-of: a replica (or admin) token of the leader's ledger (or --token-file, or DOCKET_TOKEN: a command line is visible to every user of the machine). A leader promoted while the previous one was down keeps telling it of its epoch with this token (and --replica-tls, --replica-tls-ca), so serve it with the token it followed with.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("A file holding the token for --replica-of (its first line).", valueName: "file"))
    var tokenFile: String?

    @Flag(help: "Reach the leader over TLS.")
    var replicaTLS = false

    @Option(
        name: [.customLong("replica-tls-ca"), .customLong("replica-tlsca")],
        help: ArgumentHelp("The CA certificate (PEM) that signed the leader's certificate, with --replica-tls.", valueName: "file"))
    var replicaTLSCA: String?

    @Option(help: "Acknowledge an append only once this many followers hold it durably (synchronous replication).")
    var syncReplicas = 0

    @Option(help: ArgumentHelp("How long an append waits for --sync-replicas followers before it fails with replication-timeout.", valueName: "seconds"))
    var syncTimeout = 5.0

    @Option(help: ArgumentHelp("The address clients and other nodes use to reach this node (named in epochs and not-leader answers); --listen by default.", valueName: "host:port"))
    var advertise: String?

    /// --token, else the token in --token-file (an unreadable file is an error, never a fall back
    /// to DOCKET_TOKEN), else DOCKET_TOKEN.
    func resolvedToken() throws -> String? {
        if let tokenFile { return try readTokenFile(tokenFile) }
        return (token ?? ProcessInfo.processInfo.environment["DOCKET_TOKEN"]).flatMap { $0.isEmpty ? nil : $0 }
    }

    func check() throws {
        if let tokenFile {
            guard token == nil else { throw ValidationError("give --token or --token-file, not both") }
            _ = try readTokenFile(tokenFile)
        }
        if replicaOf != nil, try resolvedToken() == nil { throw ValidationError("--replica-of needs a token of the leader's ledger: --token, --token-file or DOCKET_TOKEN") }
        guard syncReplicas >= 0, syncTimeout > 0 else { throw ValidationError("--sync-replicas must not be negative and --sync-timeout must be positive") }
        if let advertise, HostPort(advertise) == nil { throw ValidationError("--advertise must be HOST:PORT") }
        if let replicaOf, case .failure(let error) = HostPort.list(replicaOf) {
            throw ValidationError("--replica-of must be HOST:PORT[,HOST:PORT…]: \(error.message)")
        }
    }

    func configuration(listen: String) throws -> ReplicationConfiguration {
        var c = ReplicationConfiguration()
        c.leader = replicaAddresses?.leader
        c.nodes = replicaAddresses?.nodes ?? []
        c.token = try resolvedToken()
        c.useTLS = replicaTLS || replicaTLSCA != nil
        c.trustRootsPath = replicaTLSCA
        c.advertisedAddress = advertise ?? listen
        c.syncReplicas = syncReplicas
        c.syncTimeout = .milliseconds(Int64(syncTimeout * 1000))
        return c
    }

    /// Opens the node's data directory. A follower's is checked against its leader's ledger
    /// first (when the leader can be reached), and a new one is created as a copy of it.
    func openStore(_ options: StoreOptions, logger: Logger) async throws -> EventStore {
        guard let leader = replicaAddresses?.leader else { return try options.openStore(startsLedger: true, logger: logger) }
        var leaderLedger: String?
        do {
            leaderLedger = try await DocketServer.ledgerID(of: leader, replication: try configuration(listen: ""))
        } catch {
            logger.warning("cannot reach the leader yet", metadata: ["leader": "\(leader)", "error": "\(error)"])
        }
        let isNew = !EventStore.holdsLedger(options.dataDir)
        if isNew && leaderLedger == nil {
            throw CLIError("cannot reach \(leader) to learn its ledger id; a new follower's data directory is made a copy of its leader's ledger — start the leader first")
        }
        let store = try options.openStore(startsLedger: true, logger: logger, ledgerID: isNew ? leaderLedger : nil)
        if let leaderLedger, leaderLedger != store.ledgerID {
            store.close()
            throw CLIError(
                "wrong-ledger: \(leader) serves ledger \(leaderLedger) but \(options.dataDir) holds ledger \(store.ledgerID); a follower needs an empty data directory or a copy of the leader's ledger. Nothing was changed")
        }
        return store
    }
}

struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a follower the leader of a new epoch; the old leader, once it hears of it, stops taking writes.",
        discussion: """
            Remotely (--server, an admin token) the running follower stops following, records epoch n+1 in its \
            log (stream system/epochs) and tells its old leader, which then refuses writes naming the new one. \
            On a stopped follower's data directory (no --server) the epoch is recorded locally; the old leader \
            learns of it when a node that holds it connects with an admin's or a standby's token, and this node, \
            once served with its --token (and without --replica-of), tells it every 2 s until it answers. The node tells \
            its old leader with its own --token, which must be a standby's (docket token create --role replica \
            --standby): one that only reads cannot depose a leader, and this command then tries with its own \
            admin token. Promote the follower that is furthest ahead: with --sync-replicas it holds every \
            acknowledged append.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions

    @Option(help: ArgumentHelp("Offline: the address this node will serve on, recorded in the epoch.", valueName: "host:port"))
    var advertise: String?

    @Flag(help: "Offline: promote even a deposed leader (this forks the ledger; the other copies will refuse it as diverged).")
    var force = false

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await reporting {
            let result: Value
            if let client = try store.client(remote) {
                result = try await client.using { client in
                    var r = try await client.admin("promote", [])
                    // The node could not tell its old leader itself: try with this token.
                    if r["previousLeaderTold"] == false, let old = r["previousLeader"]?.stringValue, let ledger = client.serverInfo?["ledger"],
                        var c = try? DocketClient.Configuration(address: old, token: remote.token() ?? "")
                    {
                        c.reconnectAttempts = 0
                        c.leaderRedirects = 0
                        let oldLeader = DocketClient(c)
                        let told = try? await oldLeader.request(.fence, .object([
                            ("ledger", ledger), ("epoch", r["epoch"] ?? .null), ("leader", .string(client.address)),
                        ]), retry: false)
                        await oldLeader.close()
                        if told != nil, case .object(var m) = r {
                            m = m.map { $0.key == "previousLeaderTold" ? ($0.key, .bool(true)) : $0 }
                            r = .object(m)
                        }
                    }
                    return r
                }
            } else {
                let store = try self.store.openStore()
                defer { store.close() }
                result = try await Promotion.promote(
                    ledger: Ledger(store: store, dataDir: self.store.dataDir), address: advertise, actor: "operator", force: force
                ).wireValue
            }
            if json {
                print(JSON.serialize(result))
            } else {
                let previous = result["previousLeader"]?.stringValue
                print("epoch \(result["epoch"]?.intValue ?? 0) starts at sequence \(result["seq"]?.intValue ?? 0) (after \(result["after"]?.intValue ?? 0))"
                    + (previous.map { "; previous leader \($0) " + (result["previousLeaderTold"] == true ? "told to stop taking writes" : "NOT told: it stops when a node that knows the new epoch connects to it with an admin's or a standby's token") } ?? ""))
                if let warning = result["warning"]?.stringValue { writeStandardError("warning: \(warning)\n") }
            }
        }
    }
}
