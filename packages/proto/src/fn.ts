export * from "./gen/oprc/function/v1/function_pb"
