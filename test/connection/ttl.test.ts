import { describe, expect, it } from "@effect/vitest"
import { Duration, Either, FastCheck as fc } from "effect"
import { ArgumentError } from "../../src/Errors.js"
import { MAX_LOCK_SECONDS, THIRTY_DAYS, toDuration, toExpiry, toLockTime } from "../../src/internal/ops/ttl.js"

// 2024-01-01T00:00:00Z, a fixed "now" so that absolute times are exact.
const NOW = Date.UTC(2024, 0, 1) // milliseconds
const NOW_S = NOW / 1000

const expiry = (ttl: unknown) => Either.getOrThrow(toExpiry("op", ttl, NOW))
const refused = (ttl: unknown): string => {
  const r = toExpiry("upsert", ttl, NOW, "k")
  if (Either.isRight(r)) throw new Error(`expected ${String(ttl)} to be refused, got ${r.right}`)
  expect(r.left).toBeInstanceOf(ArgumentError)
  expect(r.left.key).toBe("k")
  expect(r.left.message).toContain("upsert: ttl")
  return r.left.message
}

describe("TTL conversion", () => {
  it("0 or absent means never", () => {
    expect(expiry(undefined)).toBe(0)
    expect(expiry(0)).toBe(0)
    expect(expiry(Duration.zero)).toBe(0)
    expect(expiry(Duration.infinity)).toBe(0)
  })

  it("numbers are seconds, up to 30 days relative, as they are on the wire", () => {
    expect(expiry(1)).toBe(1)
    expect(expiry(3600)).toBe(3600)
    expect(expiry(THIRTY_DAYS)).toBe(2_592_000)
  })

  it("numbers beyond 30 days are absolute Unix times, and must be in the future", () => {
    expect(expiry(NOW_S + 60)).toBe(NOW_S + 60)
    expect(expiry(0xffffffff)).toBe(0xffffffff)
    expect(refused(THIRTY_DAYS + 1)).toContain("absolute Unix time, which is in the past")
    expect(refused(NOW_S)).toContain("in the past")
  })

  it("Durations are relative: seconds up to 30 days, absolute beyond", () => {
    expect(expiry(Duration.seconds(10))).toBe(10)
    expect(expiry("2 minutes")).toBe(120)
    expect(expiry([5, 0] as const)).toBe(5)
    // A short positive duration rounds up: it must never become 0 ("never").
    expect(expiry(Duration.millis(1))).toBe(1)
    expect(expiry(Duration.millis(1500))).toBe(2)
    expect(expiry(Duration.days(30))).toBe(THIRTY_DAYS)
    expect(expiry(Duration.days(45))).toBe(NOW_S + 45 * 86_400)
  })

  it("Dates are absolute", () => {
    expect(expiry(new Date(NOW + 90_000))).toBe(NOW_S + 90)
    expect(expiry(new Date(NOW + 1))).toBe(NOW_S + 1)
  })

  it("negative, fractional, NaN and non-numeric values are argument errors", () => {
    expect(refused(-1)).toContain("negative")
    expect(refused(1.5)).toContain("whole number")
    expect(refused(Number.NaN)).toContain("NaN")
    expect(refused(Number.POSITIVE_INFINITY)).toContain("whole number")
    expect(refused("10")).toContain("seconds, a Duration or a Date")
    expect(refused("ten seconds")).toContain("seconds, a Duration or a Date")
    expect(refused(10n)).toContain("seconds, a Duration or a Date")
    expect(refused(true)).toContain("seconds, a Duration or a Date")
    expect(refused({})).toContain("seconds, a Duration or a Date")
    expect(refused(0x1_0000_0000)).toContain("32-bit")
    expect(refused(new Date(Number.NaN))).toContain("invalid Date")
    expect(refused(new Date(1000))).toContain("too early")
    expect(refused(Duration.days(365 * 200))).toContain("2106")
  })

  it.prop(
    "any whole number of seconds up to 30 days goes to the wire unchanged",
    [fc.integer({ min: 0, max: THIRTY_DAYS })],
    ([s]) => {
      expect(expiry(s)).toBe(s)
      expect(expiry(Duration.seconds(s))).toBe(s)
    }
  )
})

describe("lock time", () => {
  const lockTime = (ttl: unknown) => toLockTime("lock", ttl, "k")
  it("is 1 to 30 whole seconds", () => {
    expect(Either.getOrThrow(lockTime(1))).toBe(1)
    expect(Either.getOrThrow(lockTime(MAX_LOCK_SECONDS))).toBe(30)
    expect(Either.getOrThrow(lockTime(Duration.millis(2500)))).toBe(3)
    expect(Either.getOrThrow(lockTime("10 seconds"))).toBe(10)
  })
  it("is required, positive and at most 30", () => {
    for (const bad of [undefined, 0, -1, 31, 1.5, Number.NaN, "x", Duration.seconds(31), Duration.infinity]) {
      const r = lockTime(bad)
      expect(Either.isLeft(r) && r.left).toBeInstanceOf(ArgumentError)
    }
    const missing = lockTime(undefined)
    expect(Either.isLeft(missing) && missing.left.message).toContain("required")
  })
})

describe("operation durations", () => {
  it("take numbers as seconds, like the Python SDK", () => {
    expect(Duration.toMillis(Either.getOrThrow(toDuration("endure", "timeout", 2.5)))).toBe(2500)
    expect(Duration.toMillis(Either.getOrThrow(toDuration("endure", "interval", 0.01)))).toBe(10)
    expect(Duration.toMillis(Either.getOrThrow(toDuration("endure", "timeout", "300 millis")))).toBe(300)
  })
  it("refuse negative, infinite and malformed values", () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, Duration.infinity, "soon", {}]) {
      expect(Either.isLeft(toDuration("endure", "timeout", bad))).toBe(true)
    }
  })
})
