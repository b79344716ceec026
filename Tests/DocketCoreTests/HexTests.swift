import DocketCore
import Testing

@Suite("Hex")
struct HexTests {
    @Test("lowercase hex round trips; uppercase, odd lengths and other characters are refused")
    func roundTrip() {
        let bytes: [UInt8] = [0x00, 0x01, 0x7f, 0x80, 0xab, 0xff]
        #expect(Hex.encode(bytes) == "00017f80abff")
        #expect(Hex.decode("00017f80abff") == bytes)
        #expect(Hex.decode("") == [])
        for bad in ["ABFF", "abf", "zz", "0g", " 00"] { #expect(Hex.decode(bad) == nil, "\(bad)") }
    }
}
