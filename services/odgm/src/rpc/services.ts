import { collectionService, eventService } from "./admin.ts"
import { invocationService } from "./invocations.ts"
import { objectService } from "./objects.ts"

/** Every RPC service ODGM serves (gRPC, gRPC-Web and Connect on the one port). */
export const rpcServices = [objectService, invocationService, collectionService, eventService]
