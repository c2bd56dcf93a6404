/**
 * Where each record of the file log ends, by seq. A Float64Array rather than an array of numbers
 * so that a log of millions of events costs 8 bytes per event and no per-entry objects: the log
 * itself stays on disk and is read back with positional reads.
 */
export class OffsetIndex {
  private ends: Float64Array
  private count = 0

  constructor(capacity = 1024) {
    this.ends = new Float64Array(Math.max(16, capacity))
  }

  /** An index of the given ends (copied), with room for `capacity` records in all. */
  static of(ends: Float64Array, capacity = ends.length): OffsetIndex {
    const index = new OffsetIndex(Math.max(capacity, ends.length))
    index.ends.set(ends)
    index.count = ends.length
    return index
  }

  /** The number of records, which is also the seq of the last one. */
  get length(): number {
    return this.count
  }

  /** Bytes covered by the indexed records: where the next record starts. */
  get byteLength(): number {
    return this.count === 0 ? 0 : this.ends[this.count - 1]!
  }

  push(end: number): void {
    if (this.count === this.ends.length) {
      const grown = new Float64Array(this.ends.length * 2)
      grown.set(this.ends)
      this.ends = grown
    }
    this.ends[this.count++] = end
  }

  /** Byte offset of the first byte of record `seq` (1-based, must be indexed). */
  start(seq: number): number {
    return seq === 1 ? 0 : this.ends[seq - 2]!
  }

  /** Byte offset just past the newline that ends record `seq`. */
  end(seq: number): number {
    return this.ends[seq - 1]!
  }

  /** The ends of records `first..last` (a view, valid until the next push). */
  slice(first: number, last: number): Float64Array {
    return this.ends.subarray(first - 1, last)
  }
}
