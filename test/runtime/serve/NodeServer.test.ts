/**
 * The server's early refusal (Node's `request` event, before the router) finds the deployment a
 * URL names as the router does: a URL the router sends to a deployment's predict route is refused
 * early the same way, and one it does not is left to the routes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as fc from "fast-check"
import { predictDeploymentName } from "../../../src/runtime/serve/NodeServer.ts"
import { predictRoute } from "../../../src/runtime/serve/Routes.ts"

/** The deployment name the router gives a POST of `path`, or undefined where it routes it nowhere. */
const routed = async (path: string, maxParamLength: number): Promise<string | undefined> => {
  const app = HttpRouter.add("POST", predictRoute, Effect.map(HttpRouter.params, (params) => HttpServerResponse.text(params.name ?? "")))
  const { dispose, handler } = HttpRouter.toWebHandler(app, { disableLogger: true, routerConfig: { maxParamLength } })
  try {
    const response = await handler(new Request(`http://127.0.0.1${path}`, { method: "POST" }))
    return response.status === 200 ? await response.text() : undefined
  } finally {
    await dispose()
  }
}

describe("NodeServer", () => {
  it("the early refusal names the deployment the router routes a predict URL to", async () => {
    const paths = [
      "/v1/models/mnist/predict",
      "/v1/models/mnist/predict?debug=1",
      // The router matches the route's own segments in any case; a deployment name keeps its case.
      "/V1/Models/mnist/PREDICT",
      "/v1/models/Mnist/predict",
      // A trailing slash, doubled slashes, and `;` as a query separator are the router's too.
      "/v1/models/mnist/predict/",
      "//v1//models/mnist/predict",
      "/v1/models/mnist/predict;jsessionid=1",
      // Escapes: in the name, decoded; in the route's segments, matched decoded; malformed, no match.
      "/v1/models/my%20model/predict",
      "/v1/models/mnist/%70redict",
      "/v1/models/%E0%A4%A/predict",
      // Not the predict route.
      "/v1/models/mnist",
      "/v1/models/mnist/predict/more",
      "/v2/models/mnist/predict",
      `/v1/models/${"a".repeat(101)}/predict`
    ]
    const early = predictDeploymentName(100)
    for (const path of paths) {
      assert.strictEqual(early(path), await routed(path, 100), path)
    }
  })

  it("the early refusal never throws on a URL: a throw there would escape Node's request event and end the process", () => {
    const early = predictDeploymentName(100)
    const segment = fc.oneof(fc.string(), fc.constantFrom("v1", "V1", "models", "predict", "%", "%E0%A4%A", "%25", "%2F", ";", "?", "#", ""))
    fc.assert(fc.property(fc.array(segment, { maxLength: 6 }), (segments) => {
      early(`/${segments.join("/")}`)
      early(`/v1/models/${segments.join("")}/predict`)
    }))
  })
})
