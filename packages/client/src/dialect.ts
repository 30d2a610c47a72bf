/**
 * The two wire dialects a socket can speak (`new Socket(url, { dialect })`), as the server names
 * them (`packages/channels/src/dialect.ts`). The hornbeam dialect is the default and JSON text
 * only; the phoenix dialect is the phoenix v2 wire (`vsn=2.0.0`): the `phx_` names, and payloads
 * of bytes in binary frames both ways.
 */
import { CHANNEL_EVENTS, HEARTBEAT_TOPIC, PRESENCE_REF_KEY } from './constants.js'

export type DialectName = 'hornbeam' | 'phoenix'

export interface Dialect {
  readonly name: DialectName
  /** A channel's system events. */
  readonly events: { readonly join: string; readonly leave: string; readonly reply: string; readonly close: string; readonly error: string }
  readonly heartbeatTopic: string
  /** The key under which each presence meta carries its ref. */
  readonly presenceRefKey: string
  /** The `vsn` query parameter that selects the dialect on the server (none: hornbeam). */
  readonly vsn: string | undefined
  /** Payloads of bytes travel in binary frames (else in their JSON form). */
  readonly binary: boolean
}

export const DIALECTS: Readonly<Record<DialectName, Dialect>> = Object.freeze({
  hornbeam: Object.freeze({ name: 'hornbeam', events: CHANNEL_EVENTS, heartbeatTopic: HEARTBEAT_TOPIC, presenceRefKey: PRESENCE_REF_KEY, vsn: undefined, binary: false }),
  phoenix: Object.freeze({
    name: 'phoenix',
    events: Object.freeze({ join: 'phx_join', leave: 'phx_leave', reply: 'phx_reply', close: 'phx_close', error: 'phx_error' }),
    heartbeatTopic: 'phoenix',
    presenceRefKey: 'phx_ref',
    vsn: '2.0.0',
    binary: true,
  }),
})
