// CRDs of the third-party kinds the CRM templates render (Knative Service, KEDA ScaledObject), in
// the shape their projects publish (reduced schemas: the parts the emulator checks).
import type { Obj } from "./types.ts"

const preserve = { type: "object", "x-kubernetes-preserve-unknown-fields": true }

export const KNATIVE_SERVICE_CRD: Obj = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: {
    name: "services.serving.knative.dev",
    labels: { "serving.knative.dev/release": "v1.12.0", "knative.dev/crd-install": "true" },
  },
  spec: {
    group: "serving.knative.dev",
    names: {
      kind: "Service",
      plural: "services",
      singular: "service",
      shortNames: ["kservice", "ksvc"],
      categories: ["all", "knative", "serving"],
    },
    scope: "Namespaced",
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              apiVersion: { type: "string" },
              kind: { type: "string" },
              metadata: { type: "object" },
              spec: preserve,
              status: preserve,
            },
          },
        },
        additionalPrinterColumns: [
          { name: "URL", type: "string", jsonPath: ".status.url" },
          { name: "LatestCreated", type: "string", jsonPath: ".status.latestCreatedRevisionName" },
          { name: "LatestReady", type: "string", jsonPath: ".status.latestReadyRevisionName" },
          { name: "Ready", type: "string", jsonPath: ".status.conditions[?(@.type==\"Ready\")].status" },
          { name: "Reason", type: "string", jsonPath: ".status.conditions[?(@.type==\"Ready\")].reason" },
        ],
      },
    ],
  },
}

export const KEDA_SCALED_OBJECT_CRD: Obj = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "scaledobjects.keda.sh" },
  spec: {
    group: "keda.sh",
    names: {
      kind: "ScaledObject",
      listKind: "ScaledObjectList",
      plural: "scaledobjects",
      singular: "scaledobject",
      shortNames: ["so"],
    },
    scope: "Namespaced",
    versions: [
      {
        name: "v1alpha1",
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: "ScaleTargetKind", type: "string", jsonPath: ".status.scaleTargetKind" },
          { name: "ScaleTargetName", type: "string", jsonPath: ".spec.scaleTargetRef.name" },
          { name: "Min", type: "integer", jsonPath: ".spec.minReplicaCount" },
          { name: "Max", type: "integer", jsonPath: ".spec.maxReplicaCount" },
          { name: "Ready", type: "string", jsonPath: ".status.conditions[?(@.type==\"Ready\")].status" },
          { name: "Active", type: "string", jsonPath: ".status.conditions[?(@.type==\"Active\")].status" },
          { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
        ],
        schema: {
          openAPIV3Schema: {
            type: "object",
            required: ["spec"],
            properties: {
              apiVersion: { type: "string" },
              kind: { type: "string" },
              metadata: { type: "object" },
              spec: {
                type: "object",
                required: ["scaleTargetRef", "triggers"],
                properties: {
                  scaleTargetRef: {
                    type: "object",
                    required: ["name"],
                    properties: {
                      apiVersion: { type: "string" },
                      kind: { type: "string" },
                      name: { type: "string" },
                      envSourceContainerName: { type: "string" },
                    },
                  },
                  minReplicaCount: { type: "integer", format: "int32" },
                  maxReplicaCount: { type: "integer", format: "int32" },
                  idleReplicaCount: { type: "integer", format: "int32" },
                  pollingInterval: { type: "integer", format: "int32" },
                  cooldownPeriod: { type: "integer", format: "int32" },
                  advanced: preserve,
                  fallback: preserve,
                  triggers: {
                    type: "array",
                    items: {
                      type: "object",
                      required: ["metadata", "type"],
                      properties: {
                        type: { type: "string" },
                        name: { type: "string" },
                        metricType: { type: "string" },
                        useCachedMetrics: { type: "boolean" },
                        metadata: { type: "object", additionalProperties: { type: "string" } },
                        authenticationRef: preserve,
                      },
                    },
                  },
                },
              },
              status: preserve,
            },
          },
        },
      },
    ],
  },
}
