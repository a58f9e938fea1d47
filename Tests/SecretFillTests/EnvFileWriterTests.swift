import SecretFill
import Testing

@Suite("Env file formats")
struct EnvFileWriterTests {
    func write(_ format: EnvFileFormat, _ pairs: [(String, String)]) -> Result<String, EnvFileProblems> {
        let variables = pairs.enumerated().map { EnvVariable(name: $0.element.0, value: $0.element.1, location: SourceLocation(line: $0.offset + 1, column: 3)) }
        return EnvFileWriter(format: format).write(variables, file: "spec.yaml").map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("dotenv: single quotes when nothing needs care, escapes and ${:-…} otherwise")
    func dotenvForms() throws {
        #expect(try write(.dotenv, [("A", "plain value #x"), ("B", "it's"), ("C", "a${b}"), ("D", "end\\"), ("E", "l1\nl2"), ("F", "$HOME")]).get() == """
            A='plain value #x'
            B="it's"
            C="a${:-$}{b}"
            D="end${:-\\}"
            E="l1\\nl2"
            F="$HOME"

            """)
    }

    @Test("docker: values are raw; line breaks and lines over 64 KiB are refused by name, with every problem listed")
    func dockerRefusals() throws {
        let long = String(repeating: "x", count: 64 * 1024)
        guard case .failure(let problems) = write(.docker, [("OK", " spaced "), ("MULTI", "a\nb"), ("LONG", long), ("CR", "a\r")]) else {
            Issue.record("docker output should have been refused")
            return
        }
        #expect(problems.diagnostics.map(\.name) == ["MULTI", "LONG", "CR"])
        #expect(problems.diagnostics.map(\.location.line) == [2, 3, 4])
        #expect(problems.diagnostics.allSatisfy { !$0.message.contains("xxxx") && !$0.message.contains("a\nb") })
        #expect(try write(.docker, [("OK", " spaced ")]).get() == "OK= spaced \n")
    }

    @Test("shell: POSIX single quotes, and names must be identifiers")
    func shell() throws {
        #expect(try write(.shell, [("A", "it's 'quoted'\n$x")]).get() == "export A='it'\\''s '\\''quoted'\\''\n$x'\n")
        guard case .failure(let problems) = write(.shell, [("some-env", "v")]) else {
            Issue.record("a non-identifier should have been refused")
            return
        }
        #expect(problems.diagnostics.first?.message.contains("'some-env' is not a shell variable name") == true)
    }

    @Test("json: one object in spec order, every control character escaped")
    func json() throws {
        #expect(try write(.json, [("B", "\u{1}\"\\\n"), ("A", "\u{2028}")]).get() == "{\n  \"B\": \"\\u0001\\\"\\\\\\n\",\n  \"A\": \"\\u2028\"\n}\n")
        #expect(try write(.json, []).get() == "{}\n")
    }
}
