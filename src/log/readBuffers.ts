/**
 * Buffers for reading stored records, kept and reused. A buffer per read made a long catch-up
 * (a start-up replaying a million events, an export) push hundreds of megabytes through malloc in
 * page-sized pieces, and glibc kept the fragmented heap: 60–80 MB of resident memory that was
 * never given back. Reads that fit take a kept buffer; larger ones (rare) get their own.
 */
export class ReadBuffers {
  private readonly free: Array<Buffer> = []

  constructor(
    /** Each kept buffer's size. */
    readonly size: number,
    /** How many are kept while idle: as many reads as run at once, usually one or two. */
    private readonly keep: number
  ) {}

  take(length: number): Buffer {
    if (length > this.size) return Buffer.allocUnsafeSlow(length)
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size)
  }

  /** Hands a buffer back once nothing refers to its bytes any more. */
  give(buffer: Buffer): void {
    if (buffer.length === this.size && this.free.length < this.keep) this.free.push(buffer)
  }
}
