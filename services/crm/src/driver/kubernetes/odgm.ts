import type { EnvironmentConfigSpec } from "./crds"
import type { KObject } from "./templates"

/** ODGM itself, when the EnvironmentConfig asks for it: a StatefulSet (NATS-backed) and its Service, owned by the EnvironmentConfig. */
export const renderOdgm = (
  env: { name: string; namespace: string; uid: string; spec: EnvironmentConfigSpec },
): Array<KObject> => {
  const labels = { "app.kubernetes.io/managed-by": "oprc-crm", "app.kubernetes.io/name": "oprc-odgm" }
  const owner = [{
    apiVersion: "oprc.dev/v1alpha1",
    kind: "EnvironmentConfig",
    name: env.name,
    uid: env.uid,
    controller: true,
  }]
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "oprc-odgm", namespace: env.namespace, labels, ownerReferences: owner },
      spec: { selector: labels, ports: [{ name: "http", port: 8081, targetPort: 8081, protocol: "TCP" }] },
    },
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "oprc-odgm", namespace: env.namespace, labels, ownerReferences: owner },
      spec: {
        serviceName: "oprc-odgm",
        replicas: env.spec.odgm?.replicas ?? 3,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [{
              name: "odgm",
              image: env.spec.odgm?.image ?? "ghcr.io/oprc/oprc-odgm:latest",
              args: ["--port", "8081", "--storage", "nats", "--nats-url", env.spec.natsUrl ?? "nats://nats:4222"],
              ports: [{ name: "http", containerPort: 8081, protocol: "TCP" }],
              readinessProbe: { httpGet: { path: "/readyz", port: 8081 } },
            }],
          },
        },
      },
    },
  ]
}
