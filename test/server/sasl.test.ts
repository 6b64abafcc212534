/**
 * SCRAM and PLAIN: the client helper and the server conversation against the test
 * vectors of RFC 5802 (SCRAM-SHA-1) and RFC 7677 (SCRAM-SHA-256), each other, and
 * wrong or malformed input.
 */
import { describe, expect, it } from "@effect/vitest"
import { decodePlain, encodePlain } from "../../src/internal/sasl/plain.js"
import {
  deriveCredentials,
  escapeSaslName,
  SaslError,
  type ScramMechanism,
  unescapeSaslName
} from "../../src/internal/sasl/scram.js"
import { scramClient } from "../../src/internal/sasl/scramClient.js"
import { ScramServer } from "../../src/internal/sasl/scramServer.js"

const vectors: ReadonlyArray<{
  readonly mechanism: ScramMechanism
  readonly clientNonce: string
  readonly serverNonce: string
  readonly salt: string
  readonly serverFirst: string
  readonly clientFinal: string
  readonly serverFinal: string
}> = [
  {
    mechanism: "SCRAM-SHA1",
    clientNonce: "fyko+d2lbbFgONRv9qkxdawL",
    serverNonce: "3rfcNHYJY1ZVvWVs7j",
    salt: "QSXCR+Q6sek8bf92",
    serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="
  },
  {
    mechanism: "SCRAM-SHA256",
    clientNonce: "rOprNGfwEbeRWgbNEkqO",
    serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
    serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    clientFinal:
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
  }
]

describe("SCRAM", () => {
  for (const v of vectors) {
    it(`the client reproduces the ${v.mechanism} RFC vector`, () => {
      const client = scramClient({ mechanism: v.mechanism, username: "user", password: "pencil", nonce: v.clientNonce })
      expect(client.clientFirst).toBe(`n,,n=user,r=${v.clientNonce}`)
      expect(client.respond(v.serverFirst)).toBe(v.clientFinal)
      expect(client.verify(v.serverFinal)).toBe(true)
    })

    it(`the server reproduces the ${v.mechanism} RFC vector`, () => {
      const credentials = deriveCredentials("pencil", Buffer.from(v.salt, "base64"), 4096, v.mechanism)
      const server = new ScramServer({
        mechanism: v.mechanism,
        lookup: (name) => (name === "user" ? credentials : undefined),
        nonce: () => v.serverNonce
      })
      expect(server.start(`n,,n=user,r=${v.clientNonce}`)).toEqual({ message: v.serverFirst })
      expect(server.finish(v.clientFinal)).toEqual({ message: v.serverFinal, username: "user" })
    })
  }

  for (const mechanism of ["SCRAM-SHA512", "SCRAM-SHA256", "SCRAM-SHA1"] as const) {
    it(`${mechanism}: client and server agree, and a wrong password fails at the proof`, () => {
      const credentials = deriveCredentials("s3cret,=é", Buffer.from("saltsaltsalt"), 4096, mechanism)
      const lookup = (name: string) => (name === "a,b=c" ? credentials : undefined)
      const run = (password: string) => {
        const server = new ScramServer({ mechanism, lookup })
        const client = scramClient({ mechanism, username: "a,b=c", password })
        expect(client.clientFirst).toContain("n=a=2Cb=3Dc,")
        const first = server.start(client.clientFirst)
        if (first instanceof SaslError) throw first
        const final = client.respond(first.message)
        if (typeof final !== "string") throw final
        const done = server.finish(final)
        return done instanceof SaslError ? done : client.verify(done.message)
      }
      expect(run("s3cret,=é")).toBe(true)
      const wrong = run("S3cret,=é")
      expect(wrong).toBeInstanceOf(SaslError)
      expect((wrong as SaslError).reason).toBe("BadProof")
    })
  }

  it("an unknown user gets a challenge and fails like a wrong password", () => {
    const server = new ScramServer({ mechanism: "SCRAM-SHA256", lookup: () => undefined })
    const client = scramClient({ mechanism: "SCRAM-SHA256", username: "ghost", password: "x" })
    const first = server.start(client.clientFirst)
    expect(first).not.toBeInstanceOf(SaslError)
    const again = new ScramServer({ mechanism: "SCRAM-SHA256", lookup: () => undefined }).start(client.clientFirst)
    // The decoy salt is stable per name, so repeated attempts do not reveal that the user is unknown.
    const salt = (m: unknown) => (m as { message: string }).message.split(",")[1]
    expect(salt(again)).toBe(salt(first))
    const final = client.respond((first as { message: string }).message) as string
    expect((server.finish(final) as SaslError).reason).toBe("BadProof")
  })

  it("accepts an opaque client nonce (the official SDK's has spaces)", () => {
    const credentials = deriveCredentials("pw", Buffer.from("NaCl"), 4096, "SCRAM-SHA512")
    const server = new ScramServer({ mechanism: "SCRAM-SHA512", lookup: () => credentials })
    const client = scramClient({
      mechanism: "SCRAM-SHA512",
      username: "u",
      password: "pw",
      nonce: "0x75 0x7b 0xffffffe4"
    })
    const first = server.start(client.clientFirst) as { message: string }
    const done = server.finish(client.respond(first.message) as string) as { message: string }
    expect(client.verify(done.message)).toBe(true)
  })

  it("rejects malformed and replayed messages", () => {
    const server = () => new ScramServer({ mechanism: "SCRAM-SHA1", lookup: () => undefined })
    expect((server().start("n=user,r=abc") as SaslError).reason).toBe("Malformed")
    expect((server().start("p=tls-unique,,n=user,r=abc") as SaslError).message).toContain("channel binding")
    expect((server().start("n,,r=abc,n=user") as SaslError).reason).toBe("Malformed")
    expect((server().start("n,,n=us=er,r=abc") as SaslError).reason).toBe("Malformed")
    expect((server().finish("c=biws,r=x,p=y") as SaslError).reason).toBe("Malformed")
    const s = server()
    s.start("n,,n=user,r=abc")
    expect((s.start("n,,n=user,r=abc") as SaslError).reason).toBe("Malformed")
  })

  it("the client refuses a server that does not extend its nonce or fakes its signature", () => {
    const client = scramClient({ mechanism: "SCRAM-SHA1", username: "user", password: "pencil", nonce: "abc" })
    expect((client.respond("r=xyz123,s=QSXCR+Q6sek8bf92,i=4096") as SaslError).reason).toBe("NonceMismatch")
    expect((client.respond("r=abcdef,s=QSXCR+Q6sek8bf92,i=0") as SaslError).reason).toBe("Malformed")
    expect((client.respond("r=abcdef,s=QSXCR+Q6sek8bf92,i=99999999999") as SaslError).reason).toBe("Malformed")
    expect(typeof client.respond("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096")).toBe("string")
    expect((client.verify("v=AAAA") as SaslError).reason).toBe("BadServerSignature")
    expect((client.verify("e=invalid-proof") as SaslError).message).toContain("invalid-proof")
  })

  it("escapes user names as saslname", () => {
    expect(escapeSaslName("a=b,c")).toBe("a=3Db=2Cc")
    expect(unescapeSaslName("a=3Db=2Cc")).toBe("a=b,c")
    expect(unescapeSaslName("a=4Fb")).toBeUndefined()
  })
})

describe("PLAIN", () => {
  it("round-trips and rejects malformed payloads", () => {
    expect(decodePlain(encodePlain("user", "pa\u00dfword"))).toEqual({
      authzid: "",
      username: "user",
      password: "pa\u00dfword"
    })
    expect(decodePlain(Buffer.from("user\0password"))).toBeUndefined()
    expect(decodePlain(Buffer.from("\0\0password"))).toBeUndefined()
  })
})
