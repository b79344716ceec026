import DocketWire
import Testing

@Suite("HOST:PORT")
struct HostPortTests {
    @Test("the port is what follows the last colon, so IPv6 hosts keep theirs; brackets are not part of the host", arguments: [
        ("127.0.0.1:7411", "127.0.0.1", 7411, "127.0.0.1:7411"), ("node-a.example.org:1", "node-a.example.org", 1, "node-a.example.org:1"),
        ("[::1]:65535", "::1", 65535, "[::1]:65535"), ("::1:7411", "::1", 7411, "[::1]:7411"),
    ])
    func parses(text: String, host: String, port: Int, written: String) {
        #expect(HostPort(text) == HostPort(host: host, port: port))
        #expect(HostPort(text)?.description == written)
        #expect(HostPort(written) == HostPort(text))
    }

    @Test("anything else is not an address; port 0 only for a listener", arguments: ["", "7411", "host", "host:", "host:x", "host:65536", "host:-1", "host:0"])
    func refuses(text: String) {
        #expect(HostPort(text) == nil)
    }

    @Test("a listener may ask for any free port")
    func portZero() {
        #expect(HostPort("127.0.0.1:0", allowingPortZero: true) == HostPort(host: "127.0.0.1", port: 0))
        #expect(HostPort("127.0.0.1:65536", allowingPortZero: true) == nil)
    }

    @Test("a list of nodes: the first, then the others, spaces around each ignored; the first bad one is named")
    func list() throws {
        let parsed = try HostPort.list("a:1, b:2 ,[::1]:3").get()
        #expect(parsed.first == "a:1" && parsed.others == ["b:2", "[::1]:3"])
        #expect(HostPort.address("b:2", isAmong: parsed.others) && HostPort.address("[::1]:3", isAmong: ["::1:3"]))
        #expect(!HostPort.address("c:2", isAmong: parsed.others) && !HostPort.address("nonsense", isAmong: ["nonsense"]))
        guard case .failure(let error) = HostPort.list("a:1,b") else { Issue.record("b is not HOST:PORT"); return }
        #expect(error.message == "\"b\" in \"a:1,b\" is not HOST:PORT")
        guard case .failure(let lone) = HostPort.list("a") else { Issue.record("a is not HOST:PORT"); return }
        #expect(lone.message == "\"a\" is not HOST:PORT")
    }
}
