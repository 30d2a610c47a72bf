/**
 * The chat's channel as a Nest provider: the same rooms, checks and replies as `defineChat` in
 * chat.ts (the file every chat example shares), written with the decorators of
 * @hornbeam/nestjs, with ChannelsService injected for presence and broadcasts. The schemas of
 * chat.ts check joins and pushes before these methods run, so each gets its schema's output.
 */
import { Logger } from '@nestjs/common'
import {
  Channel, ChannelsService, OnEvent, OnJoin, OnLeave,
  type EventResult, type JoinResult, type Socket, type TopicParams,
} from '@hornbeam/nestjs'
import { chatSchemas, MAX_USERNAME, type ChatContract } from './chat.js'

type ChatAssigns = ChatContract['assigns']
type In<E extends keyof ChatContract['in']> = ChatContract['in'][E]['payload']

@Channel('room:*', chatSchemas)
export class ChatChannel {
  private readonly logger = new Logger('Chat')

  constructor(private readonly channels: ChannelsService) {}

  @OnJoin()
  join(topic: string, topicParams: TopicParams, params: ChatContract['join']['params'], socket: Socket<ChatAssigns>): JoinResult<ChatAssigns> {
    const roomId = topicParams.room_id ?? 'unknown'
    const username = params.username?.trim() ?? 'anonymous'

    // Require username
    if (!username || username === 'anonymous') return ['error', { reason: 'username required' }]
    // Every joiner's presence_state carries every username: keep them short.
    if (username.length > MAX_USERNAME) return ['error', { reason: `username too long (at most ${MAX_USERNAME} characters)` }]

    // Store user info in socket assigns
    const joined = socket.assign('room_id', roomId).assign('username', username)

    // Track presence
    this.channels.presence(topic).track(joined, `user:${username}`, { username, joined_at: new Date().toISOString() })

    return ['ok', { room_id: roomId, message: `Welcome to ${roomId}!` }, joined]
  }

  @OnLeave()
  leave(topic: string, socket: Socket<ChatAssigns>): void {
    this.logger.log(`User ${socket.assigns.username ?? 'unknown'} left ${topic}`)
  }

  @OnEvent('new_msg')
  newMessage(payload: In<'new_msg'>, socket: Socket<ChatAssigns>): EventResult<ChatAssigns> {
    const body = payload.body
    const username = socket.assigns.username ?? 'anonymous'
    if (!body) return ['reply', { status: 'error', reason: 'empty message' }, socket]

    // Broadcast to all users except sender
    void this.channels.broadcastFrom(socket, 'new_msg', { username, body })
    return ['reply', { status: 'ok' }, socket]
  }

  @OnEvent('typing')
  typing(payload: In<'typing'>, socket: Socket<ChatAssigns>): EventResult<ChatAssigns> {
    // Broadcast typing status to others
    void this.channels.broadcastFrom(socket, 'typing', { username: socket.assigns.username ?? 'anonymous', typing: payload.typing })
    return ['noreply', socket]
  }

  @OnEvent('get_history')
  getHistory(_payload: In<'get_history'>, socket: Socket<ChatAssigns>): EventResult<ChatAssigns> {
    // In a real app, fetch from database
    const history = [{ username: 'system', body: 'Welcome to the chat!' }]
    return ['reply', { messages: history }, socket]
  }
}
