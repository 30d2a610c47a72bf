/**
 * presence_diffs to big rooms, a chunk of sockets per event-loop turn. A window's diff in a room
 * of 10,000 is tens of kilobytes to each member: written in one turn, its half a gigabyte of
 * socket writes would hold every join reply behind it for a second. In chunks, the sockets'
 * frames (joins, pushes) are read between them. A topic's diffs still reach every socket in
 * order: a diff waits for the one before it to have reached every chunk.
 */
import type { FramePolicy } from './backpressure.js'
import type { Wire } from './dialect.js'
import type { OutboundMessage } from './message.js'

/** What a diff is written to (a topics.ts Subscriber). */
export interface Subscriber {
  readonly conn: { readonly wire: Wire; writeFrame(frame: Buffer, policy: FramePolicy, topic: string): void }
  /** Set while its join reads a shared history: live messages wait here. */
  pending?: OutboundMessage[] | undefined
  subscribed: boolean
}

interface Job {
  readonly message: OutboundMessage
  /** The topic's subscribers when the diff was sent: who joins later got a newer presence_state. */
  readonly subscribers: Subscriber[]
  next: number
}

/** Writes one presence frame to a subscriber: never dropped nor conflated (backpressure.ts). */
export function writePresence(subscriber: Subscriber, message: OutboundMessage): void {
  if (subscriber.pending !== undefined) subscriber.pending.push(message)
  else subscriber.conn.writeFrame(message.frameFor(subscriber.conn.wire), 'presence', message.topic)
}

export class PresenceFanout {
  private readonly queues = new Map<string, Job[]>()

  /** `chunk`: sockets written per turn. */
  constructor(private readonly chunk = 1000) {}

  deliver(topic: string, subscribers: Set<Subscriber>, message: OutboundMessage): void {
    const queue = this.queues.get(topic)
    if (queue === undefined && subscribers.size <= this.chunk) {
      for (const subscriber of subscribers) writePresence(subscriber, message)
      return
    }
    const job: Job = { message, subscribers: [...subscribers], next: 0 }
    if (queue !== undefined) return void queue.push(job)
    this.queues.set(topic, [job])
    this.run(topic)
  }

  private run(topic: string): void {
    const queue = this.queues.get(topic)!
    let budget = this.chunk
    while (budget > 0 && queue.length > 0) {
      const job = queue[0]!
      const end = Math.min(job.subscribers.length, job.next + budget)
      budget -= end - job.next
      for (; job.next < end; job.next++) {
        const subscriber = job.subscribers[job.next]!
        // One that left since: it must not get a diff after its leave (or a rejoin's state).
        if (subscriber.subscribed) writePresence(subscriber, job.message)
      }
      if (job.next === job.subscribers.length) queue.shift()
    }
    if (queue.length === 0) this.queues.delete(topic)
    else setImmediate(() => this.run(topic))
  }
}
