#if canImport(Glibc)
import Glibc
#endif
public import NIOCore

/// A `HOST:PORT` address, as every command, configuration and redirect (`not-leader`) spells
/// one. The port is the text after the last colon, so an IPv6 host keeps its own colons; an IPv6
/// host may be bracketed (`[::1]:7411`), and `host` holds it without the brackets, as sockets
/// resolve it.
public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Nil unless `text` is `HOST:PORT` with a port in 1...65535 (or 0...65535 when
    /// `allowingPortZero`: a listener may ask for any free port).
    public init?(_ text: String, allowingPortZero: Bool = false) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (allowingPortZero ? 0 : 1)...65535 ~= port
        else { return nil }
        var host = text[..<colon]
        if host.first == "[" && host.last == "]" && host.count > 2 { host = host.dropFirst().dropLast() }
        self.init(host: String(host), port: port)
    }

    /// The name to send in TLS's server name indication for `host`: nil for an IP address,
    /// which SNI may not carry (the node's certificate is then checked against the address itself).
    public static func tlsServerName(_ host: String) -> String? {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1 { return nil }
        return host
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// `HOST:PORT[,HOST:PORT…]`, as `--server` and `--replica-of` take them: a node, then the
    /// ledger's other nodes (the only ones a redirect may lead to). Spaces around each are
    /// ignored; the error names the first that is not `HOST:PORT`.
    public static func list(_ text: String) -> Result<(first: String, others: [String]), MessageError> {
        let all = text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            String(part.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        }
        if let bad = all.first(where: { HostPort($0) == nil }) {
            return .failure(MessageError("\"\(bad)\"\(all.count > 1 ? " in \"\(text)\"" : "") is not HOST:PORT"))
        }
        return .success((all[0], Array(all.dropFirst())))
    }

    /// Whether `address` names the same `HOST:PORT` as one of `addresses`.
    public static func address(_ address: String, isAmong addresses: [String]) -> Bool {
        guard let target = HostPort(address) else { return false }
        return addresses.contains { HostPort($0) == target }
    }
}

extension Channel {
    /// The socket options of every Docket connection, set as it is initialised:
    /// - `TCP_NODELAY` (a TCP-level option: at the socket level its number is `SO_DEBUG`, which
    ///   only a privileged user may set, and a node run as anyone else closed every connection);
    /// - TCP keepalive probing: after 10 s without traffic, a probe every 5 s, and the
    ///   connection fails after 3 unanswered. A peer whose machine vanished (no reset ever comes)
    ///   is noticed in about 25 s, rather than never on a connection where nothing else is sent:
    ///   a follower waiting on an idle leader, a leader's stream to a follower that is gone.
    public func configureSocket() throws {
        guard let options = syncOptions else { return }
        try options.setOption(.tcpOption(.tcp_nodelay), value: 1)
        try options.setOption(.socketOption(.so_keepalive), value: 1)
        for (name, value) in [(TCP_KEEPIDLE, 10), (TCP_KEEPINTVL, 5), (TCP_KEEPCNT, 3)] {
            try options.setOption(ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: name)), value: value)
        }
    }
}
