import type { Ref } from './serializer.js'

/** A callback for an event on a channel. */
export type BindingCallback<P = any> = (payload: P, ref: Ref, joinRef: Ref) => void

interface Binding {
  event: string
  ref: number
  callback: BindingCallback
}

/** A channel's event callbacks: `on` returns a ref that `off` takes. */
export class Bindings {
  private list: Binding[] = []
  private nextRef = 0

  on(event: string, callback: BindingCallback): number {
    const ref = this.nextRef++
    this.list.push({ event, ref, callback })
    return ref
  }

  /** Removes the callback `ref` of `event`, or all of the event's callbacks without a ref. */
  off(event: string, ref?: number): void {
    this.list = this.list.filter((b) => !(b.event === event && (ref === undefined || ref === b.ref)))
  }

  trigger(event: string, payload: unknown, ref: Ref, joinRef: Ref): void {
    for (const binding of this.list.slice()) {
      if (binding.event === event) binding.callback(payload, ref, joinRef)
    }
  }
}
