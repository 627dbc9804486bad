// A function server that always answers SYSTEM_ERROR (what a broken runtime in any language might
// do); the SDK itself never does. `PORT=... bun services/odgm/test/support/system-error.ts`
import * as http from "node:http"
import type { ConnectRouter } from "@connectrpc/connect"
import { connectNodeAdapter } from "@connectrpc/connect-node"
import { functionv1 } from "@oprc/proto"

const handler = connectNodeAdapter({
  routes: (router: ConnectRouter) =>
    router.service(functionv1.FunctionService, {
      invoke: () => ({ status: functionv1.InvocationStatus.SYSTEM_ERROR, error: "runtime crashed" }),
    }),
})
http.createServer((req, res) => (req.url === "/healthz" ? res.end("ok") : handler(req, res))).listen(
  Number(process.env.PORT),
  "127.0.0.1",
)
