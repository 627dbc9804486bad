// A kubeconfig that points kubectl and client-node at the emulator.
import { stringify } from "yaml"

export function kubeconfigYaml(server: string, token: string, ca?: string, namespace = "default"): string {
  const cluster = ca
    ? { server, "certificate-authority-data": Buffer.from(ca).toString("base64") }
    // client-node refuses http:// servers unless TLS verification is off; nothing is encrypted anyway.
    : { server, "insecure-skip-tls-verify": true }
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    clusters: [{ name: "emulator", cluster }],
    users: [{ name: "emulator", user: { token } }],
    contexts: [{ name: "emulator", context: { cluster: "emulator", user: "emulator", namespace } }],
    "current-context": "emulator",
  })
}
