/** The observability example's worker entry. */
import * as Effect from "effect/Effect"
import { Worker } from "effect-parallel/worker"
import { ImageTasks, UnknownImage } from "./tasks.ts"

export default Worker.serve(ImageTasks, {
  Resize: ({ image, millis }) =>
    Effect.sleep(millis).pipe(Effect.as(image.length * 100), Effect.withSpan("resize", { attributes: { image } })),
  Lookup: ({ image }) =>
    image.startsWith("missing") ? Effect.fail(new UnknownImage({ image })) : Effect.succeed(`/images/${image}`)
})
