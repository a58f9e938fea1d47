import SecretFill
import Testing

@Suite("escaping text for the terminal")
struct TerminalTextTests {
    @Test("C0, DEL and C1 are escaped; everything else, including non-ASCII, is kept")
    func escapes() {
        #expect(TerminalText.escaped("a\u{1B}]0;x\u{07}b") == "a\\x1b]0;x\\x07b")
        #expect(TerminalText.escaped("l1\nl2\r\tz") == "l1\\nl2\\r\\tz")
        #expect(TerminalText.escaped("\u{0}\u{7F}\u{85}\u{9F}") == "\\x00\\x7f\\u0085\\u009f")
        #expect(TerminalText.escaped("ünï ← 🔑 \u{A0}") == "ünï ← 🔑 \u{A0}")
        let once = TerminalText.escaped("x\u{1B}y")
        #expect(TerminalText.escaped(once) == once)
    }

    @Test("a diagnostic's formatted line escapes its file and message")
    func diagnostics() {
        let d = Diagnostic(code: "x", file: "a\nb.yaml", location: SourceLocation(line: 1, column: 2), message: "env 'E\u{1B}'")
        #expect(d.formatted == "a\\nb.yaml:1:2: error: env 'E\\x1b'")
    }
}
