/**
 * What the adapter sends over Redis and makes of what comes back, apart from the connections: a
 * node's messages as JSON, numbered per topic channel (sequences.ts); others' decoded, with this
 * node's own echoes, messages that are not JSON objects and the echo tokens of cluster mode
 * (echo-health.ts) set aside, and the gaps in each sender's numbers counted.
 */
import type { ClusterMessage, Logger } from '@hornbeam/channels'
import { ECHO_PREFIX } from './echo-health.js'
import { InboundGaps, OutboundSequences } from './sequences.js'
import { ThrottledWarning } from './throttle.js'

/** A decoded message, or what the data was instead. */
export type Decoded = { message: ClusterMessage } | { echo: string } | undefined

export class Traffic {
  readonly counts = { published: 0, received: 0, ownEchoes: 0, decodeErrors: 0 }
  private readonly sequences = new OutboundSequences()
  private readonly gaps = new InboundGaps()
  private readonly gapWarnings: ThrottledWarning
  private readonly badMessages: ThrottledWarning

  constructor(logger: Logger) {
    this.gapWarnings = new ThrottledWarning(logger, 'redis adapter: messages from another node were lost on the way (published while this node was not subscribed, or dropped by their sender)')
    this.badMessages = new ThrottledWarning(logger, 'redis adapter: ignoring a message that is not a JSON object')
  }

  /** Broadcasts from other nodes this node knows it missed. */
  get lost(): number {
    return this.gaps.lost
  }

  /**
   * The number of the next message on `channel` (0: not a topic's, not numbered). Taken before
   * anything can drop the message: a receiver counts what it did not get, dropped here or lost later.
   */
  number(channel: string): number {
    return channel.startsWith('topic:') ? this.sequences.next(channel) : 0
  }

  /** The JSON sent for `message` (with its number, if any); throws if it is not serializable. */
  encode(message: ClusterMessage, seq: number): string {
    const data = JSON.stringify(message)
    return seq > 0 ? `${data.slice(0, -1)},"seq":${seq}}` : data
  }

  /**
   * What arrived on hub channel `channel`: a message for the hub, an echo token, or undefined
   * (not a JSON object, or this node's own message back; counted). Our own broadcasts that the
   * history positioned are kept: every node delivers those from Redis, in Redis's order.
   */
  decode(channel: string, data: string, nodeId: string | undefined): Decoded {
    if (data.startsWith(ECHO_PREFIX)) return { echo: data }
    let message: unknown
    try {
      message = JSON.parse(data)
    } catch {
      message = undefined
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      this.counts.decodeErrors++
      this.badMessages.hit({ channel, bytes: data.length })
      return undefined
    }
    const node = (message as ClusterMessage).node
    if (node === nodeId && !('position' in message)) {
      this.counts.ownEchoes++
      return undefined
    }
    this.counts.received++
    const seq = (message as { seq?: unknown }).seq
    if (typeof seq === 'number') {
      const skipped = this.gaps.note(channel, String(node), seq)
      if (skipped > 0) this.gapWarnings.hit({ channel, skipped, lostTotal: this.gaps.lost })
    }
    return { message: message as ClusterMessage }
  }

  /** This node left `channel`: what it does not hear from now on is not a loss. */
  left(channel: string): void {
    if (channel.startsWith('topic:')) this.gaps.forget(channel)
  }
}
