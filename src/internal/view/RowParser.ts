/**
 * An incremental parser for the body of a view response:
 *
 * ```json
 * {"total_rows":7303,"rows":[{"id":"…","key":…,"value":…},…],"errors":[…],"debug_info":{…}}
 * ```
 *
 * Bytes go in as they arrive ({@link RowParser.feed}); each row comes out as soon as
 * its last byte is in, whatever the chunk boundaries (inside strings, escapes or
 * multi-byte UTF-8 sequences). The members may come in any order. Memory is bounded
 * by the largest single row (or other member), never by the body: only the bytes of
 * the row being read are kept. Everything that is accepted is valid JSON: each row and
 * member is checked by `JSON.parse`, and the structure around them (the top-level
 * object, the `rows` array, commas, the end of the body) by the state machine here.
 *
 * Failures are values, never throws: a body that is not JSON, has the
 * wrong shape, ends early or holds a row larger than the limit yields a
 * {@link RowParseError} that says where.
 *
 * @internal
 */
import { Data, Either } from "effect"

/** A row as the server sent it: `id` is absent on reduce rows, `doc` only with server-side include_docs. */
export interface RawViewRow {
  readonly id?: unknown
  readonly key?: unknown
  readonly value?: unknown
  readonly doc?: unknown
  readonly [member: string]: unknown
}

/** What the body says besides its rows, known once the body is complete. */
export interface RawViewMeta {
  /** `total_rows`: the number of rows in the whole view (absent on reduce queries). */
  readonly totalRows: number | undefined
  /** `errors`: the per-node errors reported in the body (empty when none). */
  readonly errors: ReadonlyArray<unknown>
  /** `debug_info`, when the query asked for it. */
  readonly debugInfo: unknown
}

/** The body is not a well-formed view response. */
export class RowParseError extends Data.TaggedError("RowParseError")<{
  readonly message: string
  /** Byte offset in the body where the problem was found. */
  readonly offset: number
}> {}

/** What one chunk gave: the completed rows, and the error that ended the body if any. */
export interface FeedResult {
  readonly rows: ReadonlyArray<RawViewRow>
  readonly error: RowParseError | undefined
}

/** Options of {@link RowParser}. */
export interface RowParserOptions {
  /** The largest row (or other top-level member) accepted, in bytes. Default 64 MiB. */
  readonly maxRowBytes?: number | undefined
}

enum S {
  /** Before the top-level `{`. */
  Start,
  /** After `{`: a member name or `}`. */
  FirstKey,
  /** After `,` at top level: a member name. */
  Key,
  /** After a member name: `:`. */
  Colon,
  /** After `:`: the member's value. */
  Value,
  /** After a member's value: `,` or `}`. */
  AfterValue,
  /** After the `[` of `rows`: a row or `]`. */
  FirstRow,
  /** After `,` in `rows`: a row. */
  Row,
  /** After a row: `,` or `]`. */
  AfterRow,
  /** Inside a value being scanned (see `Scan`). */
  Scanning,
  /** After the top-level `}`: whitespace only. */
  Done,
  /** A failure was reported; every later call reports it again. */
  Failed
}

enum Scan {
  /** Inside an object or array, outside strings. */
  Nested,
  /** Inside a string. */
  String,
  /** Inside a string, right after a backslash. */
  Escape,
  /** Inside a number or literal at depth 0. */
  Scalar
}

/** What the value being scanned is, so that its completion goes to the right place. */
enum Target {
  Key,
  Member,
  Row
}

const isWs = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09

const describeByte = (b: number): string =>
  b >= 0x20 && b < 0x7f ? JSON.stringify(String.fromCharCode(b)) : `byte 0x${b.toString(16).padStart(2, "0")}`

/**
 * The incremental view-body parser. One instance per response body: `feed` every
 * chunk in order, then call `finish`.
 */
export class RowParser {
  private state = S.Start
  private failure: RowParseError | undefined
  private readonly maxRowBytes: number
  private readonly decoder = new TextDecoder("utf-8", { fatal: true })
  /** Whether rows have come one per line so far (see {@link splitLines}); off for good after a miss. */
  private lines = true

  // The value being scanned.
  private scan = Scan.Nested
  private depth = 0
  private target = Target.Key
  private pending: Array<Uint8Array> = []
  private pendingBytes = 0
  private valueStart = 0

  // Where we are in the body, and what we learnt.
  private consumed = 0
  private member = ""
  private sawRows = false
  private totalRows: number | undefined
  private errors: ReadonlyArray<unknown> = []
  private debugInfo: unknown

  constructor(options: RowParserOptions = {}) {
    this.maxRowBytes = options.maxRowBytes ?? 64 * 1024 * 1024
  }

  /**
   * Parses the next chunk: the rows it completed (often none, often many) and, if the
   * body turned out malformed, the error, with the rows that came before it.
   */
  feed(chunk: Uint8Array): FeedResult {
    if (this.failure !== undefined) return { rows: [], error: this.failure }
    const rows: Array<RawViewRow> = []
    const error = this.run(chunk, rows)
    this.consumed += chunk.length
    return { rows, error: error === undefined ? undefined : this.fail(error) }
  }

  /** Ends the body: fails unless it was complete. */
  finish(): Either.Either<RawViewMeta, RowParseError> {
    if (this.failure !== undefined) return Either.left(this.failure)
    if (this.state !== S.Done) {
      return Either.left(
        this.fail(
          new RowParseError({ message: "the view response ended before its JSON was complete", offset: this.consumed })
        )
      )
    }
    return Either.right({ totalRows: this.totalRows, errors: this.errors, debugInfo: this.debugInfo })
  }

  private fail(error: RowParseError): RowParseError {
    this.state = S.Failed
    this.failure = error
    this.pending = []
    return error
  }

  private error(message: string, at: number): RowParseError {
    return new RowParseError({ message, offset: this.consumed + at })
  }

  private unexpected(b: number, at: number, expected: string): RowParseError {
    return this.error(`unexpected ${describeByte(b)} in the view response, expected ${expected}`, at)
  }

  private beginValue(target: Target, first: number, at: number): void {
    this.target = target
    this.valueStart = at
    this.state = S.Scanning
    this.depth = 0
    // The scan loop reads `first` again: from Nested at depth 0, "{" or "[" opens depth
    // 1 and '"' opens a string whose closing quote ends the value.
    this.scan = first === 0x7b || first === 0x5b || first === 0x22 ? Scan.Nested : Scan.Scalar
  }

  private run(buf: Uint8Array, rows: Array<RawViewRow>): RowParseError | undefined {
    const n = buf.length
    let i = 0
    while (i < n) {
      switch (this.state) {
        case S.Scanning: {
          // The hot loop: find where the current value ends.
          let end = -1
          let scan = this.scan
          let depth = this.depth
          scanning: while (i < n) {
            const b = buf[i]!
            switch (scan) {
              case Scan.String:
                if (b === 0x22) {
                  scan = Scan.Nested
                  if (depth === 0) {
                    end = ++i
                    break scanning
                  }
                } else if (b === 0x5c) {
                  scan = Scan.Escape
                }
                i++
                break
              case Scan.Escape:
                scan = Scan.String
                i++
                break
              case Scan.Nested:
                if (b === 0x22) scan = Scan.String
                else if (b === 0x7b || b === 0x5b) depth++
                else if (b === 0x7d || b === 0x5d) {
                  if (--depth === 0) {
                    end = ++i
                    break scanning
                  }
                }
                i++
                break
              case Scan.Scalar:
                if (b === 0x2c || b === 0x5d || b === 0x7d || isWs(b)) {
                  // The delimiter belongs to the enclosing structure: do not consume it.
                  end = i
                  break scanning
                }
                i++
                break
            }
          }
          this.scan = scan
          this.depth = depth
          if (end < 0) {
            // The value goes on in the next chunk: keep a copy of what we have.
            const part = buf.slice(this.valueStart, n)
            this.pending.push(part)
            this.pendingBytes += part.length
            this.valueStart = 0
            if (this.pendingBytes > this.maxRowBytes) {
              return this.error(`a row of the view response is larger than the limit of ${this.maxRowBytes} bytes`, n)
            }
            return undefined
          }
          const size = this.pendingBytes + (end - this.valueStart)
          if (size > this.maxRowBytes) {
            return this.error(`a row of the view response is larger than the limit of ${this.maxRowBytes} bytes`, end)
          }
          const error = this.complete(buf.subarray(this.valueStart, end), end, rows)
          if (error !== undefined) return error
          break
        }
        case S.Start: {
          const b = buf[i]!
          if (isWs(b)) i++
          else if (b === 0x7b) {
            this.state = S.FirstKey
            i++
          } else return this.unexpected(b, i, 'the "{" that starts a view response')
          break
        }
        case S.FirstKey:
        case S.Key: {
          const b = buf[i]!
          if (isWs(b)) i++
          else if (b === 0x22) this.beginValue(Target.Key, b, i)
          else if (b === 0x7d && this.state === S.FirstKey) {
            this.state = S.Done
            i++
          } else return this.unexpected(b, i, "a member name")
          break
        }
        case S.Colon: {
          const b = buf[i]!
          if (isWs(b)) i++
          else if (b === 0x3a) {
            this.state = S.Value
            i++
          } else return this.unexpected(b, i, '":"')
          break
        }
        case S.Value: {
          const b = buf[i]!
          if (isWs(b)) {
            i++
          } else if (this.member === "rows") {
            if (b !== 0x5b) return this.unexpected(b, i, 'the "[" of "rows"')
            if (this.sawRows) return this.error('the view response has "rows" twice', i)
            this.sawRows = true
            this.state = S.FirstRow
            i++
          } else {
            this.beginValue(Target.Member, b, i)
          }
          break
        }
        case S.AfterValue: {
          const b = buf[i]!
          if (isWs(b)) i++
          else if (b === 0x2c) {
            this.state = S.Key
            i++
          } else if (b === 0x7d) {
            this.state = S.Done
            i++
          } else return this.unexpected(b, i, '"," or "}"')
          break
        }
        case S.FirstRow:
        case S.Row: {
          const b = buf[i]!
          if (b === 0x7b && this.lines) {
            const next = this.splitLines(buf, i, rows)
            if (next > i) {
              i = next
              break
            }
          }
          if (isWs(b)) i++
          else if (b === 0x5d && this.state === S.FirstRow) {
            this.state = S.AfterValue
            i++
          } else if (b === 0x5d || b === 0x2c) return this.unexpected(b, i, "a row")
          else this.beginValue(Target.Row, b, i)
          break
        }
        case S.AfterRow: {
          const b = buf[i]!
          if (isWs(b)) i++
          else if (b === 0x2c) {
            this.state = S.Row
            i++
          } else if (b === 0x5d) {
            this.state = S.AfterValue
            i++
          } else return this.unexpected(b, i, '"," or "]" in "rows"')
          break
        }
        case S.Done: {
          const b = buf[i]!
          if (isWs(b)) i++
          else return this.unexpected(b, i, "the end of the view response")
          break
        }
        case S.Failed:
          return this.failure
      }
    }
    return undefined
  }

  /**
   * The fast path for the layout Couchbase Server writes, one row per line
   * (`{…},\r\n{…},\r\n{…}\r\n]`): from a row's first byte at `start`, every complete
   * line left in the chunk is decoded once and parsed with one `JSON.parse` as an
   * array, instead of scanned byte by byte and parsed row by row. Returns the offset
   * after what it consumed, or `start` when it took nothing: no complete line, a line
   * longer than the row limit, or lines that are not whole rows (a row written over
   * several lines); the byte scanner then reads those bytes as before, and after a
   * miss it reads every later row too.
   */
  private splitLines(buf: Uint8Array, start: number, rows: Array<RawViewRow>): number {
    let end = start
    for (let from = start; ; ) {
      const nl = buf.indexOf(0x0a, from)
      if (nl < 0) break
      if (nl - from > this.maxRowBytes) return start
      // A line that closes the rows array ends the run of row lines.
      if (buf[from] !== 0x7b) break
      end = from = nl + 1
    }
    if (end === start) return start
    let text = this.decodeOrUndefined(buf.subarray(start, end))
    if (text === undefined) return start
    text = text.trimEnd()
    const more = text.endsWith(",")
    if (more) text = text.slice(0, -1)
    let parsed: unknown
    try {
      parsed = JSON.parse(`[${text}]`)
    } catch {
      this.lines = false
      return start
    }
    const batch = parsed as Array<unknown>
    for (const row of batch) {
      if (typeof row !== "object" || row === null || Array.isArray(row)) {
        this.lines = false
        return start
      }
    }
    for (const row of batch) rows.push(row as RawViewRow)
    this.state = more ? S.Row : S.AfterRow
    return end
  }

  private decodeOrUndefined(bytes: Uint8Array): string | undefined {
    try {
      return this.decoder.decode(bytes)
    } catch {
      return undefined
    }
  }

  // A value ended at `end` (exclusive) in the current chunk: decode it and route it.
  private complete(tail: Uint8Array, end: number, rows: Array<RawViewRow>): RowParseError | undefined {
    let bytes = tail
    if (this.pending.length > 0) {
      bytes = new Uint8Array(this.pendingBytes + tail.length)
      let at = 0
      for (const part of this.pending) {
        bytes.set(part, at)
        at += part.length
      }
      bytes.set(tail, at)
      this.pending = []
      this.pendingBytes = 0
    }
    let value: unknown
    try {
      value = JSON.parse(this.decoder.decode(bytes))
    } catch (cause) {
      const what =
        this.target === Target.Row ? "a row" : this.target === Target.Key ? "a member name" : `"${this.member}"`
      return this.error(
        `${what} of the view response is not valid JSON: ${String((cause as Error)?.message ?? cause)}`,
        end
      )
    }
    switch (this.target) {
      case Target.Key:
        this.member = value as string
        this.state = S.Colon
        return undefined
      case Target.Row:
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
          return this.error("a row of the view response is not a JSON object", end)
        }
        rows.push(value as RawViewRow)
        this.state = S.AfterRow
        return undefined
      case Target.Member:
        this.state = S.AfterValue
        switch (this.member) {
          case "total_rows":
            return this.setTotalRows(value, end)
          case "errors":
            return this.setErrors(value, end)
          case "debug_info":
            this.debugInfo = value
            return undefined
          default:
            // Members a newer server may add are checked (above) but not kept.
            return undefined
        }
    }
  }

  private setTotalRows(value: unknown, end: number): RowParseError | undefined {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
      return this.error(`"total_rows" of the view response is not a row count: ${JSON.stringify(value)}`, end)
    }
    this.totalRows = value
    return undefined
  }

  private setErrors(value: unknown, end: number): RowParseError | undefined {
    if (!Array.isArray(value)) return this.error('"errors" of the view response is not an array', end)
    this.errors = value
    return undefined
  }
}
