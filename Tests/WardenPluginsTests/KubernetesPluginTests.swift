import Foundation
import Testing
import WardenKubernetes
import WardenPluginKit
import WardenPlugins
import WardenTestSupport

/// A kubeconfig for the fake API server with the given `user:` block.
private func kubeconfig(_ api: FakeKubernetes, user: String, cluster: String? = nil, namespace: String = "default") throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-kubeconfig-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/config"
    try """
        apiVersion: v1
        kind: Config
        current-context: test
        clusters:
          - name: fake
            cluster:
        \(cluster ?? "      server: \(api.server)\n      certificate-authority: \(api.certificates.authority)")
        contexts:
          - name: test
            context: {cluster: fake, user: tester, namespace: \(namespace)}
          - name: other
            context: {cluster: fake, user: nobody}
        users:
          - name: tester
            user:
        \(user)
          - name: nobody
            user: {token: wrong-token}
        """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

private func tokenConfig(_ api: FakeKubernetes) throws -> JSONObject {
    api.acceptTokens(["good-token"])
    return ["kubeconfig": .string(try kubeconfig(api, user: "      token: good-token"))]
}

@Suite("Kubernetes client and authentication", .serialized, .enabled(if: RealParts.available(FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"))))
struct KubernetesAuthTests {
    @Test func tokenTokenFileAndClientCertificatesAuthenticate() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        api.addDeployment("web", replicas: 2)
        api.acceptTokens(["good-token", "file-token"])

        let token = try await run(ListPodsPlugin(), ["kubeconfig": .string(try kubeconfig(api, user: "      token: good-token"))])
        #expect(token.success && token.data["count"] == 2, "\(token)")
        #expect(api.requests.last?.authorization == "Bearer good-token")

        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)").path
        try "file-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let fromFile = try await run(ListPodsPlugin(), ["kubeconfig": .string(try kubeconfig(api, user: "      tokenFile: \(tokenFile)"))])
        #expect(fromFile.success, "\(fromFile)")
        #expect(api.requests.last?.authorization == "Bearer file-token")

        let certificate = try await run(ListPodsPlugin(), ["kubeconfig": .string(try kubeconfig(api, user: """
                  client-certificate: \(api.certificates.clientCertificate)
                  client-key: \(api.certificates.clientKey)
            """))])
        #expect(certificate.success, "\(certificate)")
        #expect(api.requests.last?.clientCertificate == true && api.requests.last?.authorization == nil)

        let certificateData = try Data(contentsOf: URL(fileURLWithPath: api.certificates.clientCertificate)).base64EncodedString()
        let keyData = try Data(contentsOf: URL(fileURLWithPath: api.certificates.clientKey)).base64EncodedString()
        let caData = try Data(contentsOf: URL(fileURLWithPath: api.certificates.authority)).base64EncodedString()
        let inline = try await run(ListPodsPlugin(), ["kubeconfig": .string(try kubeconfig(api, user: """
                  client-certificate-data: \(certificateData)
                  client-key-data: \(keyData)
            """, cluster: "      server: \(api.server)\n      certificate-authority-data: \(caData)"))])
        #expect(inline.success, "\(inline)")

        let refused = try await run(ListPodsPlugin(), ["kubeconfig": .string(try kubeconfig(api, user: "      token: good-token")), "context": "other"])
        #expect(!refused.success)
        #expect(refused.error == "Unauthorized: Unauthorized", "\(refused)")
        #expect(!refused.json.jsonText().contains("wrong-token"))

        // Without the CA the server's certificate is not trusted, unless told to skip the check.
        let untrusted = try await run(ListPodsPlugin(), ["kubeconfig": .string(try kubeconfig(api, user: "      token: good-token", cluster: "      server: \(api.server)"))])
        #expect(!untrusted.success)
        let insecure = try await run(ListPodsPlugin(), ["kubeconfig": .string(try kubeconfig(api, user: "      token: good-token",
            cluster: "      server: \(api.server)\n      insecure-skip-tls-verify: true"))])
        #expect(insecure.success, "\(insecure)")
    }

    @Test func anExecCredentialPluginRunsOnceUntilItsTokenExpires() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        api.acceptTokens(["exec-token"])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-exec-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let counter = directory + "/calls"
        let script = directory + "/credential"
        func writeScript(expires: String) throws {
            try """
                #!/bin/sh
                echo run >> \(counter)
                case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) exit 3 ;; esac
                printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' "$TOKEN_VALUE" "\(expires)"
                """.write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
        }
        let config = try kubeconfig(api, user: """
                  exec:
                    apiVersion: client.authentication.k8s.io/v1
                    command: \(script)
                    env: [{name: TOKEN_VALUE, value: exec-token}]
            """)
        func calls() -> Int { ((try? String(contentsOfFile: counter, encoding: .utf8)) ?? "").split(separator: "\n").count }

        let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
        try writeScript(expires: future)
        let resources = PluginResources()
        for _ in 0..<3 {
            let result = try await run(ListPodsPlugin(), ["kubeconfig": .string(config)], resources: resources)
            #expect(result.success, "\(result)")
        }
        #expect(calls() == 1, "cached until the expiration")
        #expect(api.requests.allSatisfy { $0.authorization == "Bearer exec-token" })

        // An expired credential is fetched again at every run.
        await resources.closeAll()
        try writeScript(expires: ISO8601DateFormatter().string(from: Date().addingTimeInterval(-10)))
        for _ in 0..<2 { _ = try await run(ListPodsPlugin(), ["kubeconfig": .string(config)], resources: resources) }
        #expect(calls() == 3)
        await resources.closeAll()
    }

    @Test func inClusterServiceAccountWithATokenThatRotates() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        api.addDeployment("web", namespace: "shop", replicas: 1)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("warden-sa-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: api.certificates.authority, toPath: root + "/ca.crt")
        try "shop".write(toFile: root + "/namespace", atomically: true, encoding: .utf8)
        try "first-token".write(toFile: root + "/token", atomically: true, encoding: .utf8)
        let environment = ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(api.port)",
                           "WARDEN_K8S_SERVICEACCOUNT_DIR": root, "HOME": root]
        api.acceptTokens(["first-token"])
        let first = try await run(ListPodsPlugin(), [:], environment: environment)
        #expect(first.success && first.data["namespace"] == "shop" && first.data["count"] == 1, "\(first)")

        // The kubelet rotates the token in place; the next request uses the new one.
        try "second-token".write(toFile: root + "/token", atomically: true, encoding: .utf8)
        api.acceptTokens(["second-token"])
        let second = try await run(ListPodsPlugin(), [:], environment: environment)
        #expect(second.success, "\(second)")
        #expect(api.requests.last?.authorization == "Bearer second-token")

        let nowhere = try await run(ListPodsPlugin(), [:], environment: ["HOME": root])
        #expect(nowhere.error?.contains("not running in a cluster") == true)

        // ~/.kube/config, when there is one, comes before the service account (client-go's order).
        try FileManager.default.createDirectory(atPath: root + "/.kube", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try kubeconfig(api, user: "      token: second-token", namespace: "default"), toPath: root + "/.kube/config")
        let fromHome = try await run(ListPodsPlugin(), [:], environment: environment)
        #expect(fromHome.success && fromHome.data["namespace"] == "default", "\(fromHome)")
    }

    @Test func apiErrorsCarryTheStatusReasonAndRetryOnlyWhenItHelps() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        let config = try tokenConfig(api)
        api.addDeployment("web", replicas: 2)
        api.addNode("node-1")

        let missing = try await run(DescribePodPlugin(), config.merging(["name": "ghost"]) { $1 })
        #expect(missing.error == #"NotFound: pods "ghost" not found"#)
        #expect(!missing.retry)

        let pod = try #require(api.pods().first?["metadata"]?["name"]?.stringValue)
        api.fail("DELETE", pathPrefix: "/api/v1/namespaces/default/pods/", status: 403, reason: "Forbidden",
                 message: #"pods "\#(pod)" is forbidden: User "warden" cannot delete resource "pods" in API group "" in the namespace "default""#)
        let forbidden = try await run(RestartPodPlugin(), config.merging(["name": .string(pod)]) { $1 })
        #expect(forbidden.error?.hasPrefix("Forbidden: pods \"\(pod)\" is forbidden: User \"warden\" cannot delete resource \"pods\"") == true, "\(forbidden)")
        #expect(forbidden.error?.hasSuffix("(while trying to delete pod default/\(pod))") == true)
        #expect(!forbidden.retry)

        api.fail("PATCH", pathPrefix: "/api/v1/nodes/node-1", status: 409, reason: "Conflict", message: "the object has been modified")
        api.clearRequests()
        let conflict = try await run(CordonNodePlugin(), config.merging(["name": "node-1"]) { $1 })
        #expect(conflict.success, "a conflict is retried once: \(conflict)")
        #expect(api.requests.filter { $0.method == "PATCH" }.count == 2)
        #expect(api.node("node-1")?["spec"]?["unschedulable"] == true)

        api.fail("GET", pathPrefix: "/api/v1/namespaces/default/pods", status: 429, reason: "TooManyRequests", message: "slow down")
        let throttled = try await run(ListPodsPlugin(), config)
        #expect(throttled.retry && throttled.error == "TooManyRequests: slow down")
        api.fail("GET", pathPrefix: "/api/v1/namespaces/default/pods", status: 503, reason: "ServiceUnavailable", message: "etcd leader changed")
        let unavailable = try await run(ListPodsPlugin(), config)
        #expect(unavailable.retry && !unavailable.success)
    }

    @Test func badNamesAreRefusedBeforeAnyRequest() async throws {
        let entry = try PluginRegistry().register(AdvancedRestartPlugin())
        for bad: JSONObject in [["deployment": "web", "namespace": "Bad_Name"], ["deployment": "web;rm", "namespace": "ok"],
                                ["deployment": .string(String(repeating: "a", count: 254))]] {
            guard case .failure(let error) = entry.validate(bad) else {
                Issue.record("\(bad) was accepted")
                continue
            }
            #expect(error.violations.first?.parameter == "namespace" || error.violations.first?.parameter == "deployment")
        }
    }
}

@Suite("Kubernetes diagnostics", .serialized, .enabled(if: RealParts.available(FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"))))
struct KubernetesDiagnosticTests {
    static func crashingPod() -> JSONValue {
        [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": "worker-0", "namespace": "default", "uid": "u-worker", "labels": ["app": "worker"],
                         "creationTimestamp": .string(ISO8601DateFormatter().string(from: Date().addingTimeInterval(-600)))],
            "spec": ["nodeName": "node-2", "containers": [["name": "main", "image": "worker:2"]]],
            "status": [
                "phase": "Running",
                "conditions": [["type": "Ready", "status": "False", "reason": "ContainersNotReady"]],
                "containerStatuses": [[
                    "name": "main", "ready": false, "restartCount": 7, "image": "worker:2",
                    "state": ["waiting": ["reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"]],
                    "lastState": ["terminated": ["reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-25T01:00:00Z"]],
                ]],
            ],
        ]
    }

    static func event(_ reason: String, type: String, object: String, ago: TimeInterval, message: String = "") -> JSONValue {
        [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": .string("\(object).\(reason)"), "namespace": "default"],
            "involvedObject": ["kind": "Pod", "name": .string(object), "namespace": "default"],
            "reason": .string(reason), "type": .string(type), "message": .string(message), "count": 1,
            "lastTimestamp": .string(ISO8601DateFormatter().string(from: Date().addingTimeInterval(-ago))),
        ]
    }

    @Test func podsAreListedDescribedAndTheirLogsAndEventsRead() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        let config = try tokenConfig(api)
        api.addDeployment("web", replicas: 3)
        api.addDeployment("api", namespace: "backend", replicas: 1)
        api.addPod(Self.crashingPod())
        api.addEvent(Self.event("BackOff", type: "Warning", object: "worker-0", ago: 30, message: "Back-off restarting failed container"))
        api.addEvent(Self.event("Pulled", type: "Normal", object: "worker-0", ago: 60))
        api.addEvent(Self.event("Killing", type: "Warning", object: "other", ago: 7200))
        api.setLogs((1...50).map { "line \($0)" }, pod: "worker-0")
        api.setLogs(["panic: out of memory"], pod: "worker-0", previous: true)

        let web = try await run(ListPodsPlugin(), config.merging(["label_selector": "app=web", "max_not_ready": 0]) { $1 })
        #expect(web.success && web.data["count"] == 3, "\(web)")
        #expect(api.requests.last?.query["labelSelector"] == "app=web")
        let everything = try await run(ListPodsPlugin(), config.merging(["all_namespaces": true, "max_not_ready": 0]) { $1 })
        #expect(everything.data["count"] == 5)
        #expect(!everything.success, "worker-0 is not ready")
        #expect(everything.data["not_ready"] == 1)
        #expect(api.requests.last?.path == "/api/v1/pods")
        let worker = everything.data["pods"]?.arrayValue?.first { $0["name"] == "worker-0" }
        #expect(worker?["reason"] == "CrashLoopBackOff" && worker?["restarts"] == 7 && worker?["ready"] == "0/1")

        let described = try await run(DescribePodPlugin(), config.merging(["name": "worker-0"]) { $1 })
        #expect(!described.success)
        #expect(described.error == "pod is not ready: CrashLoopBackOff")
        let container = described.data["containers"]?.arrayValue?.first
        #expect(container?["last_termination"]?["reason"] == "OOMKilled")
        #expect(container?["last_termination"]?["exit_code"] == 137)
        #expect(described.data["events"]?.arrayValue?.map { $0["reason"] } == ["Pulled", "BackOff"])
        #expect(api.requests.last?.query["fieldSelector"] == "involvedObject.kind=Pod,involvedObject.name=worker-0")

        let logs = try await run(GetPodLogsPlugin(), config.merging(["name": "worker-0", "tail_lines": 5]) { $1 })
        #expect(logs.data["lines"] == ["line 46", "line 47", "line 48", "line 49", "line 50"], "\(logs)")
        let previous = try await run(GetPodLogsPlugin(), config.merging(["name": "worker-0", "previous": true]) { $1 })
        #expect(previous.data["lines"] == ["panic: out of memory"])
        #expect(api.requests.last?.query["previous"] == "true")

        let warnings = try await run(GetEventsPlugin(), config.merging(["types": ["Warning"], "since_seconds": 3600, "max_warnings": 0]) { $1 })
        #expect(warnings.data["count"] == 1, "the two-hour-old warning is outside since_seconds: \(warnings)")
        #expect(!warnings.success)
        #expect(api.requests.last?.query["fieldSelector"] == "type=Warning")
        let ofWorker = try await run(GetEventsPlugin(), config.merging(["involved_object": "worker-0", "kind": "Pod"]) { $1 })
        #expect(ofWorker.data["count"] == 2 && ofWorker.success)
    }

    @Test func topPodsParsesQuantitiesAndSortsHeaviestFirst() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        let config = try tokenConfig(api)
        func metrics(_ name: String, _ containers: [(String, String)]) -> JSONValue {
            ["apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics", "metadata": ["name": .string(name), "namespace": "default"],
             "timestamp": "2026-11-25T02:00:00Z", "window": "30s",
             "containers": .array(containers.enumerated().map { index, usage in
                 ["name": .string("c\(index)"), "usage": ["cpu": .string(usage.0), "memory": .string(usage.1)]]
             })]
        }
        api.setMetrics([
            metrics("light", [("1500000n", "64Mi")]),
            metrics("heavy", [("750m", "1Gi"), ("250m", "512Mi")]),
            metrics("middle", [("0.5", "2G")]),
        ])
        let byCPU = try await run(TopPodsPlugin(), config.merging(["max_cpu_millicores": 900]) { $1 })
        #expect(byCPU.data["pods"]?.arrayValue?.map { $0["name"] } == ["heavy", "middle", "light"], "\(byCPU)")
        #expect(byCPU.data["pods"]?.arrayValue?.first?["cpu_millicores"]?.doubleValue == 1000)
        #expect(byCPU.data["pods"]?.arrayValue?.last?["cpu_millicores"] == 1.5)
        #expect(!byCPU.success && byCPU.error?.contains("default/heavy uses 1000m CPU") == true)
        let byMemory = try await run(TopPodsPlugin(), config.merging(["sort_by": "memory"]) { $1 })
        #expect(byMemory.data["pods"]?.arrayValue?.map { $0["name"] } == ["middle", "heavy", "light"])
        #expect(byMemory.data["pods"]?.arrayValue?.first?["memory_bytes"] == 2_000_000_000)
        #expect(byMemory.data["pods"]?.arrayValue?[1]["memory_bytes"] == .int(1_610_612_736))
    }
}

@Suite("Kubernetes remediations", .serialized, .enabled(if: RealParts.available(FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"))))
struct KubernetesRemediationTests {
    @Test func restartPodDeletesOwnedPodsAndRefusesBareOnesUnlessForced() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        let config = try tokenConfig(api)
        api.addDeployment("web", replicas: 2)
        api.addPod(KubernetesDiagnosticTests.crashingPod())
        let owned = try #require(api.pods().compactMap { $0["metadata"]?["name"]?.stringValue }.first { $0.hasPrefix("web-") })

        let planned = try await run(RestartPodPlugin(), config.merging(["name": .string(owned)]) { $1 }, dryRun: true)
        #expect(planned.success && planned.message.hasPrefix("would delete"))
        #expect(api.requests.last?.query["dryRun"] == "All")
        #expect(api.pods().contains { $0["metadata"]?["name"]?.stringValue == owned }, "dryRun=All changes nothing")

        let restarted = try await run(RestartPodPlugin(), config.merging(["name": .string(owned)]) { $1 })
        #expect(restarted.success, "\(restarted)")
        #expect(api.requests.last?.method == "DELETE" && api.requests.last?.body?["preconditions"]?["uid"] != nil)
        let names = api.pods().compactMap { $0["metadata"]?["name"]?.stringValue }
        #expect(!names.contains(owned) && names.filter { $0.hasPrefix("web-") }.count == 2, "the ReplicaSet replaced it")

        let bare = try await run(RestartPodPlugin(), config.merging(["name": "worker-0"]) { $1 })
        #expect(!bare.success && bare.error?.contains("has no controller") == true)
        #expect(api.requests.last?.method == "GET", "nothing was deleted")
        let forced = try await run(RestartPodPlugin(), config.merging(["name": "worker-0", "force": true]) { $1 })
        #expect(forced.success && !api.pods().contains { $0["metadata"]?["name"] == "worker-0" })
    }

    @Test func scaleDeploymentStaysWithinBoundsAndWaitsForTheRollout() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        let config = try tokenConfig(api)
        api.addDeployment("web", replicas: 3)

        let tooMany = try await run(ScaleDeploymentPlugin(), config.merging(["name": "web", "replicas": 12, "max": 10]) { $1 })
        #expect(!tooMany.success && tooMany.error == "12 replicas is outside the bounds 0…10")
        #expect(!api.requests.contains { $0.method == "PATCH" })

        let planned = try await run(ScaleDeploymentPlugin(), config.merging(["name": "web", "delta": 2]) { $1 }, dryRun: true)
        #expect(planned.success && api.deployment("web")?["spec"]?["replicas"] == 3)

        let scaled = try await run(ScaleDeploymentPlugin(), config.merging(["name": "web", "delta": 2, "wait": true]) { $1 })
        #expect(scaled.success, "\(scaled)")
        let patch = try #require(api.requests.last { $0.method == "PATCH" })
        #expect(patch.path == "/apis/apps/v1/namespaces/default/deployments/web/scale")
        #expect(patch.contentType == "application/merge-patch+json" && patch.body == ["spec": ["replicas": 5]])
        #expect(scaled.data["rollout"]?["ready"] == 5 && scaled.data["rollout_complete"] == true)
        #expect(api.pods().count == 5)
    }

    @Test func rollbackRestoresThePreviousRevisionsTemplate() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        let config = try tokenConfig(api)
        api.addDeployment("web", replicas: 2, image: "web:1")
        api.setImage("web:2", deployment: "web")
        #expect(api.deployment("web")?["metadata"]?["annotations"]?["deployment.kubernetes.io/revision"] == "2")

        let rolledBack = try await run(RollbackDeploymentPlugin(), config.merging(["name": "web", "wait": true]) { $1 })
        #expect(rolledBack.success, "\(rolledBack)")
        #expect(rolledBack.data["current_revision"] == 2 && rolledBack.data["to_revision"] == 1)
        let patch = try #require(api.requests.last { $0.method == "PATCH" })
        #expect(patch.contentType == "application/json-patch+json")
        #expect(patch.body?[0]?["op"] == "replace" && patch.body?[0]?["path"] == "/spec/template")
        #expect(patch.body?[0]?["value"]?["metadata"]?["labels"]?["pod-template-hash"] == nil, "the ReplicaSet's hash label is dropped")
        let image = api.deployment("web")?["spec"]?["template"]?["spec"]?["containers"]?[0]?["image"]
        #expect(image == "web:1")
        // Like Kubernetes, the old ReplicaSet becomes the newest revision.
        #expect(api.deployment("web")?["metadata"]?["annotations"]?["deployment.kubernetes.io/revision"] == "3")
        #expect(api.replicaSets().count == 2)

        let missing = try await run(RollbackDeploymentPlugin(), config.merging(["name": "web", "to_revision": 9]) { $1 })
        #expect(!missing.success && missing.error?.hasPrefix("revision 9 not found") == true, "\(missing)")
    }

    @Test func cordonUncordonAndEvictedPodCleanup() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        let config = try tokenConfig(api)
        api.addNode("node-1")
        let cordoned = try await run(CordonNodePlugin(), config.merging(["name": "node-1"]) { $1 })
        #expect(cordoned.success && api.node("node-1")?["spec"]?["unschedulable"] == true)
        #expect(api.requests.last?.contentType == "application/strategic-merge-patch+json")
        let again = try await run(CordonNodePlugin(), config.merging(["name": "node-1"]) { $1 })
        #expect(again.message == "node node-1 is already cordoned")
        let uncordoned = try await run(CordonNodePlugin(), config.merging(["name": "node-1", "uncordon": true]) { $1 })
        #expect(uncordoned.success && api.node("node-1")?["spec"]?["unschedulable"] == false)

        func failed(_ name: String, reason: String) -> JSONValue {
            ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default", "uid": .string(name)],
             "spec": [:], "status": ["phase": "Failed", "reason": .string(reason), "message": "The node was low on resource: memory."]]
        }
        api.addPod(failed("evicted-a", reason: "Evicted"))
        api.addPod(failed("evicted-b", reason: "Evicted"))
        api.addPod(failed("crashed", reason: "Error"))
        api.addDeployment("web", replicas: 1)
        let planned = try await run(DeleteEvictedPodsPlugin(), config, dryRun: true)
        #expect(planned.data["evicted"] == 2 && api.pods().count == 4)
        let cleaned = try await run(DeleteEvictedPodsPlugin(), config.merging(["max_pods": 5]) { $1 })
        #expect(cleaned.success && cleaned.data["deleted"] == 2, "\(cleaned)")
        #expect(Set(api.pods().compactMap { $0["metadata"]?["name"]?.stringValue }.filter { !$0.hasPrefix("web-") }) == ["crashed"])
        #expect(api.requests.contains { $0.query["fieldSelector"] == "status.phase=Failed" })
    }

    @Test func advancedRestartRollsOrRecreates() async throws {
        let api = try await FakeKubernetes.start()
        defer { Task { await api.stop() } }
        let config = try tokenConfig(api)
        api.addDeployment("web", replicas: 3)
        let before = Set(api.pods().compactMap { $0["metadata"]?["name"]?.stringValue })

        api.clearRequests()
        let rolling = try await run(AdvancedRestartPlugin(), config.merging(["deployment": "web", "strategy": "rolling", "wait": true]) { $1 })
        #expect(rolling.success, "\(rolling)")
        let patches = api.requests.filter { $0.method == "PATCH" }
        #expect(patches.count == 1)
        #expect(patches.first?.contentType == "application/strategic-merge-patch+json")
        let stamp = patches.first?.body?["spec"]?["template"]?["metadata"]?["annotations"]?["kubectl.kubernetes.io/restartedAt"]?.stringValue
        #expect(stamp.flatMap { ISO8601DateFormatter().date(from: $0) } != nil)
        #expect(rolling.data["rollout"]?["updated"] == 3)
        let afterRolling = Set(api.pods().compactMap { $0["metadata"]?["name"]?.stringValue })
        #expect(afterRolling.isDisjoint(with: before) && afterRolling.count == 3, "a new template means new pods")

        api.clearRequests()
        let recreate = try await run(AdvancedRestartPlugin(), config.merging(["deployment": "web", "strategy": "recreate"]) { $1 })
        #expect(recreate.success, "\(recreate)")
        let scales = api.requests.filter { $0.method == "PATCH" }
        #expect(scales.map { $0.body?["spec"]?["replicas"]?.intValue } == [0, 3])
        #expect(scales.allSatisfy { $0.path.hasSuffix("/deployments/web/scale") })
        let first = try #require(api.requests.firstIndex { $0.method == "PATCH" })
        let last = try #require(api.requests.lastIndex { $0.method == "PATCH" })
        #expect(api.requests[first..<last].contains { $0.method == "GET" && $0.path == "/api/v1/namespaces/default/pods" && $0.query["labelSelector"] == "app=web" },
                "it waited for the pods to be gone in between")
        #expect(recreate.data["pods_gone_before_scale_up"] == true)
        #expect(api.pods().count == 3 && Set(api.pods().compactMap { $0["metadata"]?["name"]?.stringValue }).isDisjoint(with: afterRolling))

        api.clearRequests()
        let planned = try await run(AdvancedRestartPlugin(), config.merging(["deployment": "web", "strategy": "recreate"]) { $1 }, dryRun: true)
        #expect(planned.success && api.requests.filter { $0.method == "PATCH" }.allSatisfy { $0.query["dryRun"] == "All" })
        #expect(api.deployment("web")?["spec"]?["replicas"] == 3)
    }
}
