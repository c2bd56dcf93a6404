import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect } from "effect"
import { Broker } from "../broker/Broker.js"
import { projectOfRequest } from "../input/project.js"

/** The broker of the project a platform route's request is in (the transport placed it there, from `/p/<project>`). */
export const requestBroker = Effect.gen(function* () {
  const broker = yield* Broker
  const request = yield* HttpServerRequest.HttpServerRequest
  return broker.project(projectOfRequest(NodeHttpServerRequest.toIncomingMessage(request)))
})
