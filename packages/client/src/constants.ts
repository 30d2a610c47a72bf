/**
 * The hornbeam dialect's names and the client's defaults. The server's table of the same names
 * is `packages/channels/src/dialect.ts`; the two must agree.
 */

/** System events of a channel. */
export const CHANNEL_EVENTS = {
  join: 'hb_join',
  leave: 'hb_leave',
  reply: 'hb_reply',
  close: 'hb_close',
  error: 'hb_error',
} as const

/** Heartbeats go to this topic with the event `heartbeat`; the server answers with a reply. */
export const HEARTBEAT_TOPIC = 'hornbeam'
export const HEARTBEAT_EVENT = 'heartbeat'

/** The key under which every presence meta carries its unique ref. */
export const PRESENCE_REF_KEY = 'hb_ref'
export const PRESENCE_EVENTS = { state: 'presence_state', diff: 'presence_diff' } as const

/** The client appends this segment to the endpoint path, as the seed's client does. */
export const TRANSPORT_SEGMENT = 'websocket'

/** WebSocket readyState values (the transport's numbers, named). */
export const SOCKET_STATES = { connecting: 0, open: 1, closing: 2, closed: 3 } as const

/**
 * A channel's states:
 *   closed   — never joined, left, or closed by the server; nothing will happen on its own.
 *   joining  — a join is under way (or waits for the socket to open).
 *   joined   — the server accepted the join; pushes go out at once.
 *   errored  — the join failed or the channel/socket broke; a rejoin is scheduled or waits for
 *              the socket to reopen.
 *   leaving  — leave() was called; closed once the server confirms (or the leave times out).
 */
export type ChannelState = 'closed' | 'errored' | 'joined' | 'joining' | 'leaving'

/** Close codes. Only a close the user asked for (disconnect()) stops the reconnect loop. */
export const CLOSE_NORMAL = 1000
/** Used when the server stops answering heartbeats; in the 4000 range, "application, retry". */
export const CLOSE_HEARTBEAT_TIMEOUT = 4000

export const DEFAULT_TIMEOUT_MS = 10_000
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 30_000
/** The fraction of each backoff delay that is random: a delay d becomes d × (1 − jitter·U[0,1)). */
export const DEFAULT_JITTER = 0.5

/** After the server closes every client at once (1001, 1012), reconnects spread over this window. */
export const DEFAULT_RESTART_WINDOW_MS = 5000
/** How long after a rejoin a presence missing from the new state waits for its owner to rejoin. */
export const DEFAULT_REJOIN_GRACE_MS = 5_000

/** Reconnect quickly at first (a server restart takes a moment), then settle at 5 s. */
export function defaultReconnectAfterMs(tries: number): number {
  return [10, 50, 100, 150, 200, 250, 500, 1000, 2000][tries - 1] ?? 5000
}

/** A channel that failed is retried after 1, 2, 5, then every 10 seconds. */
export function defaultRejoinAfterMs(tries: number): number {
  return [1000, 2000, 5000][tries - 1] ?? 10_000
}
