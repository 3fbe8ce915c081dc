/** An in-memory tracer for tests: every span it made, ended or not, in the order they were made. */
import * as Tracer from "effect/Tracer"

export const memoryTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  const named = (name: string) => spans.filter((span) => span.name === name)
  const parentId = (span: Tracer.NativeSpan) => span.parent._tag === "Some" ? span.parent.value.spanId : undefined
  return { spans, tracer, named, parentId }
}
