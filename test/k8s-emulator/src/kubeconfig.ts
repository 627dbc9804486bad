// A kubeconfig that points kubectl and client-node at the emulator.
import { stringify } from "yaml"

export function kubeconfigYaml(server: string, token: string, namespace = "default"): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    // client-node refuses http:// servers unless TLS verification is off; nothing is encrypted anyway.
    clusters: [{ name: "emulator", cluster: { server, "insecure-skip-tls-verify": true } }],
    users: [{ name: "emulator", user: { token } }],
    contexts: [{ name: "emulator", context: { cluster: "emulator", user: "emulator", namespace } }],
    "current-context": "emulator",
  })
}
