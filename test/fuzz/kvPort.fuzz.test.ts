import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { Magic, Opcode, Status } from "../../src/internal/protocol/constants.js"
import { encodeFrame } from "../../src/internal/protocol/Frame.js"
import { RawClient } from "../server/support/rawClient.js"
import { announce, FUZZ_SEED } from "./seed.js"

announce("KV port")

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b))

// Requests of any opcode with random sections (most of them well framed), headers
// with random fields, and noise.
const request = fc
  .record({
    magic: fc.constantFrom(Magic.ClientRequest, Magic.ClientRequest, Magic.AltClientRequest, Magic.ClientResponse),
    opcode: fc.nat(0xff),
    vbucket: fc.nat(1100),
    datatype: fc.nat(7),
    cas: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    framingExtras: fc.option(bytes(6), { nil: undefined }),
    extras: bytes(24),
    key: bytes(30),
    value: bytes(200)
  })
  .map((init) => encodeFrame(init))
const noise = fc.oneof(
  bytes(40),
  fc.uint8Array({ minLength: 24, maxLength: 24 }).map((b) => Buffer.from(b))
)
const stream = fc
  .array(fc.oneof({ weight: 6, arbitrary: request }, { weight: 1, arbitrary: noise }), { minLength: 1, maxLength: 6 })
  .map((parts) => Buffer.concat(parts))

const NOOP_OPAQUE = 0x7eadbeef

/** What became of a connection after `input`: it answered a NOOP sent after it, closed, or still waits for bytes. */
const outcome = (client: RawClient, input: Buffer): Promise<"answered" | "closed" | "waiting"> => {
  client.write(input)
  client.write(encodeFrame({ magic: Magic.ClientRequest, opcode: Opcode.Noop, opaque: NOOP_OPAQUE }))
  return Promise.race([
    client.responses(NOOP_OPAQUE).then(
      () => "answered" as const,
      () => "closed" as const
    ),
    client.closed.then(() => "closed" as const),
    // A frame may declare more body than was sent: the server waits for it, as it should.
    new Promise<"waiting">((resolve) => setTimeout(() => resolve("waiting"), 100))
  ])
}

describe("fuzz: the embedded server's KV port", () => {
  it.scopedLive(
    "random frames after authentication: the node survives, a bad stream closes only its own connection",
    () =>
      Effect.gen(function* () {
        const server = yield* EmbeddedCluster.make({ nodes: 1 })
        const port = server.nodes[0]!.kv
        const login = (c: RawClient) =>
          Effect.promise(async () => {
            expect(await c.authPlain("Administrator", "password")).toBe(Status.Success)
            expect(await c.selectBucket("default")).toBe(Status.Success)
          })
        const bystander = yield* Effect.acquireRelease(
          Effect.promise(() => RawClient.connect(port)),
          (c) => Effect.sync(() => c.close())
        )
        yield* login(bystander)
        const seen = { answered: 0, closed: 0, waiting: 0 }
        const inputs = fc.sample(stream, { seed: FUZZ_SEED, numRuns: 300 })
        for (const input of inputs) {
          const client = yield* Effect.promise(() => RawClient.connect(port))
          yield* login(client)
          const result = yield* Effect.promise(() => outcome(client, input))
          seen[result]++
          client.close()
          // Whatever that connection got, the node still serves the others.
          const noop = yield* Effect.promise(() => bystander.request({ opcode: Opcode.Noop }))
          expect(noop.status).toBe(Status.Success)
        }
        expect(seen.answered + seen.closed + seen.waiting).toBe(300)
        // The generator reaches the outcomes that matter.
        expect(seen.answered).toBeGreaterThan(30)
        expect(seen.closed).toBeGreaterThan(30)
        // A fresh connection is served, and the node still stores and reads.
        const fresh = yield* Effect.acquireRelease(
          Effect.promise(() => RawClient.connect(port)),
          (c) => Effect.sync(() => c.close())
        )
        yield* login(fresh)
        expect((yield* Effect.promise(() => fresh.request({ opcode: Opcode.Noop }))).status).toBe(Status.Success)
        console.log(`KV port fuzz outcomes: ${JSON.stringify(seen)}`)
      }),
    60_000
  )
})
