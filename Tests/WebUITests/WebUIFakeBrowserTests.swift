import Foundation
import Hummingbird
import HummingbirdTesting
import SecretFill
@testable import SecretFillWebUI
import Testing

/// The browser flows against the pages over an in-memory backend (the same
/// script runs against a real `secretfill serve` in CLITests).
@Suite struct WebUIFakeBrowserTests {
    @Test("headless Chromium, JavaScript off, over the in-memory backend: sign in, add and delete in each scope, replace after confirming, history and roll back, keys and audit pages, a forged POST refused, no value in any page")
    func browserFlows() async throws {
        let backend = await backendWithKeys()
        let canary = "CANARY-webui-fake-91c2"
        let shots = FileManager.default.temporaryDirectory.appendingPathComponent("webui-shots-\(UUID().uuidString)").path
        try await makeApp(backend).test(.live) { client in
            let port = try #require(client.port)
            let outcome = try await BrowserHarness.run(url: "http://127.0.0.1:\(port)", writeToken: writeToken, namesToken: namesToken,
                                                       adminToken: adminToken, canary: canary, screenshots: shots)
            #expect(outcome.status == 0, "\(outcome.output)")
        }
        #expect(BrowserHarness.isPNG(shots + "/webui-team.png"))
        #expect(BrowserHarness.isPNG(shots + "/webui-keys.png"))
        #expect(BrowserHarness.isPNG(shots + "/webui-roles.png"))
        #expect(BrowserHarness.isPNG(shots + "/webui-members.png"))
        #expect(await backend.memberChanges == ["add ana@acme.dev", "update ana@acme.dev", "remove ana@acme.dev"])
        #expect(await backend.stored("kube_token", in: .cluster("c-1"))?.revealed == canary + "-cluster")
        #expect(await backend.stored("forged", in: .team) == nil)
    }
}
