/**
 * An in-process stand-in for the server side of a WebSocket, what the hub's Connection writes to
 * and reads from: frames the server sends arrive in `onFrame`, frames a test sends are emitted as
 * 'message'. No socket, no port: `net` is never touched.
 */
import { EventEmitter } from 'node:events'

export interface CloseInfo {
  code: number
  reason: string
}

export class FakeServerSocket extends EventEmitter {
  /** WebSocket readyState: 1 open, 3 closed. */
  readyState = 1
  bufferedAmount = 0
  protocol = ''
  closeInfo: CloseInfo | undefined

  constructor(private readonly onFrame: (text: string) => void, private readonly onClose: (info: CloseInfo) => void) {
    super()
  }

  /** The hub writes a frame (text, or a Buffer of text). */
  send(data: string | Buffer | Uint8Array, _options?: unknown, callback?: (err?: Error) => void): void {
    if (this.readyState !== 1) return
    this.onFrame(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'))
    callback?.()
  }

  /** The hub closes the socket (or the test does, as a client would). */
  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return
    this.readyState = 3
    this.closeInfo = { code, reason: String(reason) }
    this.onClose(this.closeInfo)
    this.emit('close', code, Buffer.from(String(reason)))
  }

  terminate(): void {
    this.close(1006, '')
  }

  /** A frame from the client. */
  receive(text: string): void {
    if (this.readyState === 1) this.emit('message', Buffer.from(text), false)
  }
}
