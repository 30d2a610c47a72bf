/**
 * Runs one channel's tasks one at a time, in arrival order, like a Phoenix channel process's
 * mailbox: an async handler holds later events of the same channel until it settles. A task
 * that returns no promise runs inline, with no promise or queue allocated: most channels never
 * queue anything, and there is one mailbox per joined channel.
 */
export type Task = () => unknown

export interface MailboxOwner {
  /** What a task threw; tasks are meant to catch their own errors. */
  taskFailed(err: unknown): void
}

export class Mailbox {
  private queue: Task[] | undefined
  private busy = false

  constructor(private readonly owner: MailboxOwner) {}

  enqueue(task: Task): void {
    ;(this.queue ??= []).push(task)
    if (!this.busy) this.drain()
  }

  /** Runs `task` before anything still queued (after the task in flight, if any). */
  interrupt(task: Task): void {
    ;(this.queue ??= []).unshift(task)
    if (!this.busy) this.drain()
  }

  private drain(): void {
    this.busy = true
    const queue = this.queue!
    while (queue.length > 0) {
      const task = queue.shift()!
      let result: unknown
      try {
        result = task()
      } catch (err) {
        this.owner.taskFailed(err)
        continue
      }
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        ;(result as Promise<unknown>).then(
          () => this.resume(),
          (err) => {
            this.owner.taskFailed(err)
            this.resume()
          },
        )
        return
      }
    }
    this.busy = false
  }

  private resume(): void {
    this.busy = false
    this.drain()
  }
}

/** Calls `fn`; hands its value (or its promise's) to `onValue`, and what it throws to `onError`. */
export function settle<T>(
  fn: () => T | Promise<T>,
  onValue: (value: T) => unknown,
  onError: (err: unknown) => unknown,
): unknown {
  let result: T | Promise<T>
  try {
    result = fn()
  } catch (err) {
    return onError(err)
  }
  if (result !== null && typeof result === 'object' && typeof (result as Promise<T>).then === 'function') {
    return (result as Promise<T>).then(onValue, onError)
  }
  return onValue(result as T)
}
