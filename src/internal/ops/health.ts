/**
 * The argument checks of the health calls, `ping` and `waitUntilReady` (what they send
 * is in `connection/Health.ts`): a positive timeout and a list of known services.
 *
 * @internal
 */
import { Duration, Either, Option } from "effect"
import type { PingOptions, PingService } from "../../Connection.js"
import type { ArgumentError } from "../../Errors.js"
import { argumentError, validateOptions } from "./args.js"

const SERVICES: ReadonlyArray<PingService> = ["kv", "views"]

/** Checked health options: the timeout in milliseconds (undefined: the caller's default) and the services. */
export interface HealthCommand {
  readonly timeoutMillis: number | undefined
  readonly services: ReadonlyArray<PingService> | undefined
}

const positiveMillis = (op: string, name: string, input: unknown): Either.Either<number, ArgumentError> => {
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
    return Either.left(argumentError(op, `${name} must be a positive, finite duration, got ${String(input)}`))
  }
  return Either.right(Duration.toMillis(decoded.value))
}

const checkServices = (
  op: string,
  services: unknown
): Either.Either<ReadonlyArray<PingService> | undefined, ArgumentError> => {
  if (services === undefined) return Either.right(undefined)
  if (!Array.isArray(services) || services.length === 0 || !services.every((s) => SERVICES.includes(s))) {
    return Either.left(argumentError(op, `services must be a non-empty list of ${SERVICES.join(" and ")}`))
  }
  return Either.right(services as ReadonlyArray<PingService>)
}

/** Checks `ping(options)`. */
export const validatePing = (options: PingOptions | undefined): Either.Either<HealthCommand, ArgumentError> =>
  Either.gen(function* () {
    const o = yield* validateOptions("ping", options)
    const timeoutMillis = o.timeout === undefined ? undefined : yield* positiveMillis("ping", "timeout", o.timeout)
    return { timeoutMillis, services: yield* checkServices("ping", o.services) }
  })

/** Checks `waitUntilReady(timeout, options)`. */
export const validateWaitUntilReady = (
  timeout: unknown,
  options: Omit<PingOptions, "timeout"> | undefined
): Either.Either<HealthCommand & { readonly timeoutMillis: number }, ArgumentError> =>
  Either.gen(function* () {
    const timeoutMillis = yield* positiveMillis("waitUntilReady", "timeout", timeout)
    const o = yield* validateOptions("waitUntilReady", options)
    return { timeoutMillis, services: yield* checkServices("waitUntilReady", o.services) }
  })
