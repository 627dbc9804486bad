import { functionv1 } from "@oprc/proto"

/** The handler both servers run: echo the payload back, as a no-op function would. */
export const echo = (req: functionv1.InvokeRequest) => ({
  status: functionv1.InvocationStatus.OK,
  output: req.payload,
  headers: { "x-cls": req.cls },
})

export const requestBody = JSON.stringify({
  invocationId: "bench",
  cls: "bench.Echo",
  function: "echo",
  payload: "aGVsbG8gd29ybGQ=",
})
