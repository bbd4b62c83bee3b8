import WardenPluginKit

/// The Kubernetes family (its API over the shared HTTP client, kubeconfig in YAML). Adding a
/// plugin means adding its file and a line here.
public enum KubernetesPlugins {
    public static let all: [any Plugin] = [
        ListPodsPlugin(),
        DescribePodPlugin(),
        GetPodLogsPlugin(),
        GetEventsPlugin(),
        TopPodsPlugin(),
        RestartPodPlugin(),
        ScaleDeploymentPlugin(),
        RollbackDeploymentPlugin(),
        CordonNodePlugin(),
        DeleteEvictedPodsPlugin(),
        AdvancedRestartPlugin(),
    ]
}
