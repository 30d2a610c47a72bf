/**
 * Runs one channel's tasks one at a time, in arrival order, like a Phoenix channel process's
 * mailbox: an async handler holds later events of the same channel until it settles. A task
 * that returns no promise runs inline, with no promise allocated.
 */
export type Task = () => unknown

export class Mailbox {
  private readonly queue: Task[] = []
  private busy = false
  private readonly next = () => {
    this.busy = false
    this.drain()
  }

  /** `onError` sees what a task threw; tasks are meant to catch their own errors. */
  constructor(private readonly onError: (err: unknown) => void) {}

  enqueue(task: Task): void {
    this.queue.push(task)
    if (!this.busy) this.drain()
  }

  /** Runs `task` before anything still queued (after the task in flight, if any). */
  interrupt(task: Task): void {
    this.queue.unshift(task)
    if (!this.busy) this.drain()
  }

  private drain(): void {
    this.busy = true
    while (this.queue.length > 0) {
      const task = this.queue.shift()!
      let result: unknown
      try {
        result = task()
      } catch (err) {
        this.onError(err)
        continue
      }
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        ;(result as Promise<unknown>).then(this.next, (err) => {
          this.onError(err)
          this.next()
        })
        return
      }
    }
    this.busy = false
  }
}
