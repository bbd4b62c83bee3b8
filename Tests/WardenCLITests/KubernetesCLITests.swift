import Foundation
import Testing
import WardenPluginKit
import WardenTestSupport

/// The Kubernetes family as an operator runs it: `warden exec` with `KUBECONFIG` set, against
/// the loopback fake API server.
@Suite("Kubernetes through the CLI", .serialized, .enabled(if: RealParts.available(FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"))))
struct KubernetesCLITests {
    @Test func pluginsListsTheElevenKubernetesPlugins() async throws {
        let output = try await CLI.run(["plugins", "--json", "--plugin-dir", "/nonexistent"])
        let plugins = try #require(output.json as? [[String: Any]])
        let categories = Dictionary(uniqueKeysWithValues: plugins.map { ($0["name"] as? String ?? "", $0["category"] as? String ?? "") })
        let expected = [
            "list_pods": "diagnostic", "describe_pod": "diagnostic", "get_pod_logs": "diagnostic", "get_events": "diagnostic",
            "top_pods": "diagnostic", "restart_pod": "remediation", "scale_deployment": "remediation",
            "rollback_deployment": "remediation", "cordon_node": "remediation", "delete_evicted_pods": "remediation",
            "advanced_restart": "remediation",
        ]
        for (name, category) in expected { #expect(categories[name] == category, "\(name)") }
    }

    @Test func advancedRestartThroughTheCLIAndABadNamespaceRefusedBeforeAnyRequest() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        api.acceptTokens(["cli-token"])
        api.addDeployment("web", replicas: 3, image: "web:1")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            apiVersion: v1
            kind: Config
            current-context: test
            clusters: [{name: fake, cluster: {server: "\(api.server)", certificate-authority: "\(api.certificates.authority)"}}]
            contexts: [{name: test, context: {cluster: fake, user: ops}}]
            users: [{name: ops, user: {token: cli-token}}]
            """.write(toFile: directory + "/config", atomically: true, encoding: .utf8)
        let environment = ["KUBECONFIG": directory + "/config"]

        let rolling = try await CLI.run(["exec", "advanced_restart", "--allow-write", "--json", "--param", "deployment=web",
                                         "--param", "strategy=rolling"], environment: environment)
        #expect(rolling.status == 0, "\(rolling.stdout)\(rolling.stderr)")
        let patches = api.requests.filter { $0.method == "PATCH" }
        #expect(patches.count == 1)
        #expect(patches.first?.path == "/apis/apps/v1/namespaces/default/deployments/web")
        #expect(patches.first?.body?["spec"]?["template"]?["metadata"]?["annotations"]?["kubectl.kubernetes.io/restartedAt"]?.stringValue != nil)
        #expect(!rolling.stdout.contains("cli-token") && !rolling.stderr.contains("cli-token"))

        api.clearRequests()
        let recreate = try await CLI.run(["exec", "advanced_restart", "--allow-write", "--param", "deployment=web",
                                          "--param", "strategy=recreate", "--param", "wait=true"], environment: environment)
        #expect(recreate.status == 0, "\(recreate.stdout)\(recreate.stderr)")
        #expect(api.requests.filter { $0.method == "PATCH" }.map { $0.body?["spec"]?["replicas"]?.intValue } == [0, 3])
        #expect(recreate.stdout.contains("3 → 0 → 3"))

        api.setImage("web:2", deployment: "web")
        let rollback = try await CLI.run(["exec", "rollback_deployment", "--allow-write", "--param", "name=web"], environment: environment)
        #expect(rollback.status == 0, "\(rollback.stdout)\(rollback.stderr)")
        #expect(api.deployment("web")?["spec"]?["template"]?["spec"]?["containers"]?[0]?["image"] == "web:1")

        api.clearRequests()
        let bad = try await CLI.run(["exec", "advanced_restart", "--allow-write", "--param", "deployment=web",
                                     "--param", "namespace=Bad_Name"], environment: environment)
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("parameter `namespace`"), "\(bad.stderr)")
        #expect(api.requests.isEmpty, "refused before any request")
    }
}
