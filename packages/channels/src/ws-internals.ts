/**
 * The private fields of ws a connection reads: the TCP socket and the sender's state, which let
 * it write a prebuilt frame straight to the TCP socket, and the receiver's partial frame.
 */
import type { Socket as NetSocket } from 'node:net'

export interface WsInternals {
  _socket?: NetSocket
  _sender?: { _state?: number }
  _extensions?: Record<string, unknown>
  _receiver?: ReceiverInternals
}

/** ws's receiver holds the bytes of a frame (or the fragments of a message) still incomplete. */
export interface ReceiverInternals {
  _bufferedBytes?: number
  _totalPayloadLength?: number
}

/** The internals of a ws WebSocket with no extension (compression) on: frames can bypass its sender. */
export function fastPath(ws: unknown): WsInternals & { _socket: NetSocket; _sender: { _state?: number } } | undefined {
  const internals = ws as WsInternals
  const fast =
    internals._socket !== undefined &&
    typeof internals._sender?._state === 'number' &&
    (internals._extensions === undefined || Object.keys(internals._extensions).length === 0)
  return fast ? (internals as WsInternals & { _socket: NetSocket; _sender: { _state?: number } }) : undefined
}
