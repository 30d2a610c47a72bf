import type { Dialect, Ref, Wire } from './dialect.js'
import { encodeFrame } from './dialect.js'
import { textFrame } from './frame.js'

/** A payload that differs by dialect (presence metas carry `hb_ref` or `phx_ref`). */
export type PayloadForDialect = (dialect: Dialect) => unknown

/**
 * One message bound for many sockets. It is serialized and framed lazily, at most once per
 * encoding (or once per wire when the payload depends on the dialect), and those bytes are
 * written to every subscriber: fan-out does no per-subscriber JSON work.
 */
export class OutboundMessage {
  private readonly frames: Array<Buffer | undefined> = [undefined, undefined, undefined]
  /** A broadcast's position in its topic's history (set before the first frame is built). */
  ref: Ref = null

  constructor(
    readonly topic: string,
    readonly event: string,
    private readonly payload: unknown,
    private readonly perDialect: boolean = false,
    readonly joinRef: Ref = null,
  ) {}

  static perDialect(topic: string, event: string, payload: PayloadForDialect): OutboundMessage {
    return new OutboundMessage(topic, event, payload, true)
  }

  frameFor(wire: Wire): Buffer {
    const slot = this.perDialect ? wire.index : wire.encodingIndex
    let frame = this.frames[slot]
    if (frame === undefined) {
      const payload = this.perDialect ? (this.payload as PayloadForDialect)(wire.dialect) : this.payload
      frame = textFrame(encodeFrame(wire.encoding, this.joinRef, this.ref, this.topic, this.event, payload))
      this.frames[slot] = frame
    }
    return frame
  }
}
