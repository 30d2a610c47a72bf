/**
 * @hornbeam/client: the JavaScript client of Hornbeam channels.
 *
 *   const socket = new Socket('/ws', { params: { token } })
 *   const channel = socket.channel('room:lobby', { username })
 *   channel.join().receive('ok', (resp) => ...)
 *   socket.connect()
 *
 * `new Socket('/ws', { dialect: 'phoenix' })` speaks the phoenix v2 wire, with binary payloads.
 */
export { Socket } from './socket.js'
export { LongPoll, longPollURL, MAX_LONGPOLL_BATCH, DEFAULT_LONGPOLL_TIMEOUT_MS } from './longpoll.js'
export { FALLBACK_KEY } from './fallback.js'
export type { SessionStore } from './fallback.js'
export type { SocketOptions, LogFunction, Logger, WebSocketLike, WebSocketConstructor, CloseInfo } from './socket.js'
export { Channel } from './channel.js'
export type { BindingCallback, ChannelSocket } from './channel.js'
export { Push } from './push.js'
export type { AnyContract, JoinParams, JoinReply, InEvent, InPayload, InReply, OutEvent, OutPayload, ChannelEvent, PushArgs } from './contract.js'
export type { PushStatus, PayloadSource } from './push.js'
export { HISTORY_PARAMS } from './cursor.js'
export type { RecoverInfo, HistoryNotice } from './cursor.js'
export { Presence } from './presence.js'
export type { Meta, PresenceCount, PresenceEntry, PresenceState, PresenceDiff, PresenceSyncOptions, PresenceOptions, JoinCallback, LeaveCallback } from './presence.js'
export { endPointURL } from './endpoint.js'
export type { Params } from './endpoint.js'
export { encode, decode } from './serializer.js'
export { DIALECTS } from './dialect.js'
export type { Dialect, DialectName } from './dialect.js'
export { BINARY_KEY } from './bytes.js'
export type { Message, Ref } from './serializer.js'
export { Timer, jittered } from './timer.js'
export type { Backoff } from './timer.js'
export * from './constants.js'
