/**
 * The seed of the fuzz tests: `FUZZ_SEED` to replay a run, else a fresh one. It is
 * printed when a fuzz file loads, so a CI log says how to reproduce a failure.
 */
export const FUZZ_SEED = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED)

export const announce = (what: string): void => {
  console.log(`${what}: fuzz seed ${FUZZ_SEED} (replay with FUZZ_SEED=${FUZZ_SEED})`)
}
