/**
 * The serving API as an `effect/http-api` definition: the source of `/openapi.json` and of the
 * Scalar reference at `/docs`.
 *
 * The routes themselves are written on `HttpRouter` (`Routes.ts`): a predict request must be
 * refused before its body is read (queue full, draining), answer `503` with `Retry-After`, stream
 * raw Float32 bodies both ways and be withdrawn from its batch when its client leaves — the
 * definition here documents exactly those answers.
 */
import * as Schema from "effect/Schema"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiSchema from "effect/http-api/HttpApiSchema"
import * as OpenApi from "effect/http-api/OpenApi"

// Finite, and keys that may be absent but not null: \`Schema.Number\` and \`Schema.optional\` would
// document "NaN" strings and nulls, which the server answers with a 400.
const Item = Schema.Array(Schema.Finite).annotate({ description: "One item: the deployment's input size in numbers" })

const PredictJson = Schema.Struct({
  inputs: Schema.optionalKey(Schema.Array(Item).check(Schema.isMinLength(1))).annotate({
    description: "Items to predict (at most the deployment's maxBatchSize), batched with other requests"
  }),
  input: Schema.optionalKey(Item).annotate({ description: "A single item (instead of inputs)" })
}).annotate({ identifier: "PredictRequest" })

const PredictBinary = Schema.Uint8Array.pipe(HttpApiSchema.asUint8Array({ contentType: "application/octet-stream" }))
  .annotate({ description: "Items back to back as little-endian float32" })

// Schema.Number: a model's NaN and infinities are answered as its strings (`Body.encodeJson`).
const PredictOutput = Schema.Struct({
  outputs: Schema.Array(Schema.Array(Schema.Number)).annotate({
    description: "One array per item; a NaN or an infinity the model answered is the string \"NaN\", \"Infinity\" or \"-Infinity\""
  })
}).annotate({ identifier: "PredictResponse" })

const Problem = (identifier: string, code: number, description: string) =>
  Schema.Struct({ error: Schema.String, field: Schema.optionalKey(Schema.String) })
    .annotate({ identifier, description })
    .pipe(HttpApiSchema.status(code))

const Readiness = Schema.Struct({
  ready: Schema.Boolean,
  draining: Schema.Boolean,
  deployments: Schema.Record(
    Schema.String,
    Schema.Struct({ replicas: Schema.Int, ready: Schema.Int, failures: Schema.Array(Schema.String) })
  )
}).annotate({ identifier: "Readiness" })

export const ServeApi = HttpApi.make("effect-parallel-serve").annotate(OpenApi.Title, "effect-parallel model serving")
  .annotate(
    OpenApi.Description,
    "Dynamically batched predictions: POST items to a deployment; 503 with Retry-After when its queue is full or it is not ready."
  ).add(
  HttpApiGroup.make("models").add(
    HttpApiEndpoint.post("predict", "/v1/models/:name/predict", {
      params: { name: Schema.String },
      payload: [PredictJson, PredictBinary],
      success: [
        PredictOutput,
        Schema.Uint8Array.pipe(HttpApiSchema.asUint8Array({ contentType: "application/octet-stream" }))
      ],
      error: [
        Problem("BadRequest", 400, "The body is not a batch of items; `field` names the part at fault"),
        Problem("NotFound", 404, "No deployment of that name"),
        Problem("NotAcceptable", 406, "The Accept header allows neither application/json nor application/octet-stream"),
        Problem("TooLarge", 413, "The body is larger than the deployment's maxBatchSize items can take"),
        Problem("UnsupportedEncoding", 415, "The body is compressed (a Content-Encoding other than identity)"),
        Problem("ModelFailed", 500, "The model failed on this request's batch, or answered it with the wrong shape"),
        Problem("Unavailable", 503, "Queue full, model not ready, replica lost or server draining; see Retry-After"),
        Problem("Timeout", 504, "The request's deadline passed before its batch was answered")
      ]
    })
  )
).add(
  HttpApiGroup.make("health").add(
    HttpApiEndpoint.get("healthz", "/healthz", { success: Schema.Struct({ status: Schema.Literal("ok") }) }),
    HttpApiEndpoint.get("readyz", "/readyz", { success: Readiness, error: Readiness.pipe(HttpApiSchema.status(503)) })
  )
)
