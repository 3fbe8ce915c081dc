/**
 * `effect-parallel serve` as a user runs it: a child Node process serving the MNIST-shaped MLP on
 * a free port, answering a prediction, and draining on SIGTERM.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile, execFileSync, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { inspectModel, UnservableModel } from "../../src/cli/onnxModel.ts"
import { deploymentName } from "../../src/cli/serve.ts"
import { ensureMlpModel, IMAGE_SIZE } from "../../src/workloads/mlp.ts"
import { writeModel, writeOneOpModel, writeReluModel } from "../fixtures/onnx-models.ts"

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

/**
 * `effect-parallel serve <model> --replicas 1 --port 0` in a child, once it listens and is ready:
 * its URL, what it printed so far, and `stop` (SIGTERM, then its exit).
 */
const serveReady = async (model: string) => {
  const child = spawn(process.execPath, ["--conditions=effect-parallel-source", main, "serve", model, "--replicas", "1", "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout.on("data", (chunk) => (output += chunk))
  child.stderr.on("data", (chunk) => (output += chunk))
  const exited = new Promise((resolve) => child.on("exit", resolve))
  const stop = async () => {
    child.kill("SIGTERM")
    await exited
  }
  try {
    while (!/listening on (http:\/\/\S+)/.test(output)) {
      if (child.exitCode !== null) assert.fail(`serve exited early:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const url = /listening on (http:\/\/\S+)/.exec(output)![1]!
    while ((await fetch(`${url}/readyz`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 50))
    return { url, output: () => output, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

describe("effect-parallel serve", () => {
  it("serves an ONNX model, answers a prediction, and stops cleanly on SIGTERM", async () => {
    const model = ensureMlpModel(join(mkdtempSync(join(tmpdir(), "ep-serve-")), "mnist.onnx"))
    const child = spawn(process.execPath, [
      "--conditions=effect-parallel-source",
      main,
      "serve",
      model,
      "--replicas",
      "1",
      "--port",
      "0",
      "--max-expected-wait",
      "2s"
    ], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal }))
    )
    try {
      while (!/listening on (http:\/\/\S+)/.test(stdout)) {
        if (child.exitCode !== null) assert.fail(`serve exited early:\n${stdout}\n${stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const url = /listening on (http:\/\/\S+)/.exec(stdout)![1]!
      assert.include(stdout, "mnist: images [batch, 784] -> probabilities [batch, 10]")
      assert.include(stdout, "or 2000 ms of work ahead")
      while ((await fetch(`${url}/readyz`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 50))
      const reply = await fetch(`${url}/v1/models/mnist/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ input: Array.from({ length: IMAGE_SIZE }, (_, i) => (i % 7) / 7) })
      })
      assert.strictEqual(reply.status, 200)
      const { outputs } = (await reply.json()) as { outputs: Array<Array<number>> }
      assert.strictEqual(outputs.length, 1)
      assert.strictEqual(outputs[0]!.length, 10)
      assert.closeTo(outputs[0]!.reduce((a, b) => a + b, 0), 1, 1e-4, "softmax probabilities")
    } finally {
      child.kill("SIGTERM")
    }
    // A SIGTERM stop that drained cleanly is a success (Ctrl-C would exit 130).
    assert.deepStrictEqual(await exited, { code: 0, signal: null }, stderr)
    assert.include(stdout, "draining")
    assert.include(stdout, "stopped")
  }, 60_000)

  it("a second Ctrl-C stops at once, where the drain would wait for a client that never finishes", async () => {
    const model = ensureMlpModel(join(mkdtempSync(join(tmpdir(), "ep-serve-")), "mnist.onnx"))
    const child = spawn(process.execPath, [
      "--conditions=effect-parallel-source",
      main,
      "serve",
      model,
      "--replicas",
      "1",
      "--port",
      "0",
      "--drain-timeout",
      "10m",
      "--timeout",
      "10m"
    ], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stdout += chunk))
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal }))
    )
    const socket = new Socket()
    try {
      while (!/listening on http:\/\/[\d.]+:(\d+)/.test(stdout)) {
        if (child.exitCode !== null) assert.fail(`serve exited early:\n${stdout}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const port = Number(/listening on http:\/\/[\d.]+:(\d+)/.exec(stdout)![1])
      // Listening comes before the replica is ready: until then a prediction is a 503 at once.
      while ((await fetch(`http://127.0.0.1:${port}/readyz`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 50))
      // Half a request: the drain waits for it until its deadline (--timeout) or --drain-timeout.
      await new Promise<void>((resolve) => socket.connect(port, "127.0.0.1", resolve))
      // `Expect: 100-continue`: Node answers it when the request reaches the server's handler.
      const continued = new Promise((resolve) => socket.once("data", resolve))
      socket.write("POST /v1/models/mnist/predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n")
      assert.include(String(await continued), "100 Continue")
      socket.write("{")
      child.kill("SIGINT")
      // Once the port refuses connections, the drain is waiting for the half request.
      const refused = () =>
        new Promise<boolean>((resolve) => {
          const probe = new Socket()
          probe.once("connect", () => (probe.destroy(), resolve(false)))
          probe.once("error", () => resolve(true))
          probe.connect(port, "127.0.0.1")
        })
      while (!(await refused())) await new Promise((resolve) => setTimeout(resolve, 50))
      child.kill("SIGINT")
      assert.deepStrictEqual(await exited, { code: 130, signal: null })
    } finally {
      socket.destroy()
      child.kill("SIGKILL")
    }
  }, 60_000)

  it("refuses a value the server rejects, naming the flag", async () => {
    const model = ensureMlpModel(join(mkdtempSync(join(tmpdir(), "ep-serve-")), "mnist.onnx"))
    for (const [flag, value] of [["--max-batch", "0"], ["--replicas", "-1"], ["--max-queued", "0"], ["--timeout", "0ms"], ["--port", "70000"]]) {
      const result = await new Promise<{ code: number | null; output: string }>((resolve) =>
        execFile(
          process.execPath,
          ["--conditions=effect-parallel-source", main, "serve", model, ...(flag === "--port" ? [] : ["--port", "0"]), flag!, value!],
          (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error.code as number), output: stdout + stderr })
        )
      )
      assert.strictEqual(result.code, 2, flag) // a usage error, as a flag that does not parse
      assert.include(result.output, `${flag}: must be`)
      // It never served: no "stopped" to suggest it did.
      assert.notInclude(result.output, "stopped")
    }
  }, 60_000)

  it("serves a model whose output is int64 (an ArgMax classifier's class index)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ep-serve-"))
    const model = writeOneOpModel(join(dir, "argmax.onnx"), {
      op: "ArgMax",
      attributes: { axis: 1 },
      input: ["batch", 4],
      output: ["batch", 1],
      outputType: "int64"
    })
    const server = await serveReady(model)
    const url = server.url
    try {
      const reply = await fetch(`${url}/v1/models/argmax/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ inputs: [[0, 3, 1, 2], [9, 0, 0, 1]] })
      })
      const body = await reply.text()
      assert.strictEqual(reply.status, 200, body)
      assert.deepStrictEqual(JSON.parse(body), { outputs: [[1], [0]] })
      assert.include(server.output(), "batches 1 replica, up to", "one replica, singular")
    } finally {
      await server.stop()
    }
  }, 60_000)

  it("refuses a model without a variable batch dimension, which would fail every batch", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ep-serve-"))
    for (const shape of [[1, 4], [4]]) {
      const model = writeReluModel(join(dir, `relu-${shape.join("x")}.onnx`), shape)
      const result = await new Promise<{ code: number | null; output: string }>((resolve) =>
        execFile(
          process.execPath,
          ["--conditions=effect-parallel-source", main, "serve", model, "--port", "0"],
          { timeout: 20_000 }, // a model that is served runs until stopped
          (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error.code as number), output: stdout + stderr })
        )
      )
      assert.strictEqual(result.code, 1, result.output)
      assert.include(result.output, "serve needs a variable batch dimension first")
    }
    // A model of batch 1 is served one item a batch.
    const single = writeReluModel(join(dir, "relu-single.onnx"), [1, 4])
    assert.deepStrictEqual((await inspectModel(single, 1)).itemShape, [4])
    assert.deepStrictEqual((await inspectModel(writeReluModel(join(dir, "relu-batch.onnx"), ["batch", 2, 3]))).inputSize, 6)
  }, 60_000)

  it("refuses a model with no outputs, saying so (not that it needs one input)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ep-serve-"))
    const model = writeModel(join(dir, "no-outputs.onnx"), {
      input: ["batch", 4],
      nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }],
      outputs: {}
    })
    const error = await inspectModel(model).then(() => undefined, (error: Error) => error)
    assert.match(String(error?.message), /no-outputs\.onnx: serve needs a model with an output, this one has none/)
  })

  it("refuses a model whose output is no numeric tensor (a sequence, strings), which no run could answer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ep-serve-"))
    const sequence = writeModel(join(dir, "sequence.onnx"), {
      input: ["batch", 4],
      nodes: [{ op: "SplitToSequence", inputs: ["x"], outputs: ["y"] }],
      outputs: { y: { sequence: true } }
    })
    const strings = writeModel(join(dir, "strings.onnx"), {
      input: ["batch", 4],
      nodes: [{ op: "Cast", inputs: ["x"], outputs: ["y"], attributes: { to: 8 } }],
      outputs: { y: { tensor: ["batch", 4], type: "string" } }
    })
    for (const [model, what] of [[sequence, "not a tensor"], [strings, "a tensor of string"]] as const) {
      const error = await inspectModel(model).then(() => undefined, (error: unknown) => error)
      assert.instanceOf(error, UnservableModel, model)
      assert.strictEqual(error.modelPath, model)
      assert.include(error.message, `output y is ${what}; serve answers the first output, which must be a numeric tensor`)
    }
    // The command says so and exits, where it served and answered every prediction with a 500.
    const result = await new Promise<{ code: number | null; output: string }>((resolve) =>
      execFile(
        process.execPath,
        ["--conditions=effect-parallel-source", main, "serve", sequence, "--port", "0"],
        { timeout: 20_000 }, // a model that is served runs until stopped
        (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error.code as number), output: stdout + stderr })
      )
    )
    assert.strictEqual(result.code, 1, result.output)
    assert.include(result.output, "output y is not a tensor")
  }, 60_000)

  it("serves the first output of a model whose other output is a sequence (only that one is fetched)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ep-serve-"))
    const model = writeModel(join(dir, "two.onnx"), {
      input: ["batch", 2],
      nodes: [{ op: "Relu", inputs: ["x"], outputs: ["y"] }, { op: "SplitToSequence", inputs: ["x"], outputs: ["z"] }],
      outputs: { y: { tensor: ["batch", 2] }, z: { sequence: true } }
    })
    const server = await serveReady(model)
    const url = server.url
    try {
      const reply = await fetch(`${url}/v1/models/two/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ inputs: [[-1, 2]] })
      })
      const body = await reply.text()
      assert.strictEqual(reply.status, 200, body)
      assert.deepStrictEqual(JSON.parse(body), { outputs: [[0, 2]] })
    } finally {
      await server.stop()
    }
  }, 60_000)

  it("names the deployment after a file whose name is no URL segment (_relu.onnx is relu), where it needed --name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ep-serve-"))
    const model = writeReluModel(join(dir, "_relu.onnx"), ["batch", 2])
    const server = await serveReady(model)
    const url = server.url
    try {
      assert.include(server.output(), `POST ${url}/v1/models/relu/predict`)
      const reply = await fetch(`${url}/v1/models/relu/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ input: [-1, 2] })
      })
      assert.strictEqual(reply.status, 200, await reply.clone().text())
      assert.deepStrictEqual(await reply.json(), { outputs: [[0, 2]] })
    } finally {
      await server.stop()
    }
    for (
      const [file, name] of [
        ["mnist.onnx", "mnist"],
        ["_relu.onnx", "relu"],
        ["__v2.1 (final).onnx", "v2.1--final-"],
        ["_my model.onnx", "my-model"],
        [".model.onnx", "model"],
        ["模型.onnx", "model"],
        ["___.onnx", "model"]
      ]
    ) assert.strictEqual(deploymentName(join(dir, file!)), name, file)
  }, 60_000)

  it("--help gives every flag's default and says what a duration is", () => {
    const help = execFileSync(process.execPath, ["--conditions=effect-parallel-source", main, "serve", "--help"], {
      encoding: "utf8"
    })
    for (
      const [flag, fallback] of [
        ["--replicas", "2"],
        ["--max-batch", "32"],
        ["--max-wait", "5ms"],
        ["--max-queued", "512"],
        ["--timeout", "30s"],
        ["--drain-timeout", "30s"],
        ["--port", "8080"],
        ["--host", "127.0.0.1"]
      ]
    ) {
      assert.match(help, new RegExp(`${flag} \\S+ .*\\(default ${fallback!.replace(".", "\\.")}[;)]`), flag)
    }
    assert.match(help, /--max-wait duration .*a bare number is ms/)
    assert.match(help, /--drain-timeout .*Ctrl-C/)
  })

  it("refuses a bad duration, naming the flag", async () => {
    const model = ensureMlpModel(join(mkdtempSync(join(tmpdir(), "ep-serve-")), "mnist.onnx"))
    for (const flag of ["--max-wait", "--max-expected-wait"]) {
      const result = await new Promise<{ code: number | null; output: string }>((resolve) =>
        execFile(
          process.execPath,
          ["--conditions=effect-parallel-source", main, "serve", model, flag, "soon"],
          (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error.code as number), output: stdout + stderr })
        )
      )
      assert.strictEqual(result.code, 2, flag)
      assert.include(result.output, flag)
    }
  }, 60_000)
})
