export * from "./gen/oprc/crm/v1/runtime_service_pb"
export * from "./gen/oprc/crm/v1/cluster_info_service_pb"
