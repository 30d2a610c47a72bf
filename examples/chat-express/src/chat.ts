/**
 * The chat: rooms `room:*`, a username to join, who is online, messages, typing, history. The
 * same file is in every chat example (examples are meant to be copied out, so each has its
 * own); each server hands it its adapter's hub: `defineChat(app.channels)` on Fastify and
 * Express, `defineChat(channels.hub)` on Hono and Koa (Nest declares the same channel with
 * decorators in chat.channel.ts).
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { workerCount, type Hub, type WorkersOptions } from '@hornbeam/channels'

/** The longest username the chat accepts. */
export const MAX_USERNAME = 32

/**
 * What the room channel takes and sends, for the compiler on both sides: the server's handlers
 * are checked against it here, and the page's client can use it
 * (`socket.channel<ChatContract>('room:lobby', { username })`).
 */
export interface ChatContract {
  assigns: { room_id?: string; username?: string }
  join: { params: { username?: string | undefined }; reply: { room_id: string; message: string } }
  in: {
    new_msg: { payload: { body: string }; reply: { status: 'ok' } }
    typing: { payload: { typing: boolean } }
    get_history: { payload: object; reply: { messages: Array<{ username: string; body: string }> } }
  }
  out: {
    new_msg: { username: string; body: string }
    typing: { username: string; typing: boolean }
  }
}

/**
 * The same at run time: joins and pushes that do not fit are answered with an error reply
 * (`{ reason, issues }`) before any handler runs. Missing fields get the seed's defaults, so an
 * empty or missing body still gets the chat's own 'empty message' answer.
 */
export const chatSchemas = {
  join: z.object({ username: z.string().optional() }),
  events: {
    new_msg: z.object({ body: z.string().max(2000).default('') }),
    typing: z.object({ typing: z.boolean().default(false) }),
    get_history: z.object({}),
  },
}

export function defineChat(hub: Hub, log: (line: string) => void = console.log) {
  // Create the channel for chat rooms
  const room = hub.channel<ChatContract>('room:*', chatSchemas)

  room.onJoin((topic, topicParams, params, socket) => {
    const roomId = topicParams.room_id ?? 'unknown'
    const username = params.username?.trim() ?? 'anonymous'

    // Require username
    if (!username || username === 'anonymous') return ['error', { reason: 'username required' }]
    // Every joiner's presence_state carries every username: keep them short.
    if (username.length > MAX_USERNAME) return ['error', { reason: `username too long (at most ${MAX_USERNAME} characters)` }]

    // Store user info in socket assigns
    const joined = socket.assign('room_id', roomId).assign('username', username)

    // Track presence
    hub.presence(topic).track(joined, `user:${username}`, { username, joined_at: new Date().toISOString() })

    return ['ok', { room_id: roomId, message: `Welcome to ${roomId}!` }, joined]
  })

  room.onLeave((topic, socket) => {
    log(`User ${socket.assigns.username ?? 'unknown'} left ${topic}`)
  })

  room.on('new_msg', (payload, socket) => {
    const username = socket.assigns.username ?? 'anonymous'
    if (!payload.body) return ['reply', { status: 'error', reason: 'empty message' }, socket]

    // Broadcast to all users except sender
    socket.broadcastFrom('new_msg', { username, body: payload.body })
    return ['reply', { status: 'ok' }, socket]
  })

  room.on('typing', (payload, socket) => {
    // Broadcast typing status to others
    socket.broadcastFrom('typing', { username: socket.assigns.username ?? 'anonymous', typing: payload.typing })
    return ['noreply', socket]
  })

  room.on('get_history', (_payload, socket) => {
    // In a real app, fetch from database
    const history = [{ username: 'system', body: 'Welcome to the chat!' }]
    return ['reply', { messages: history }, socket]
  })

  return room
}

/** The chat page (index.html), which loads the client bundle the server serves at /ws/hornbeam.js. */
export const chatPage: string = readFileSync(new URL('../public/index.html', import.meta.url), 'utf8')

/** Where the examples listen: PORT (default 3000) and HOST (default 127.0.0.1). */
export function listenAddress(): { port: number; host: string } {
  return { port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' }
}

/**
 * The names this server is reached by, from ALLOWED_HOSTS (comma-separated, `.example.com` for a
 * domain and its subdomains). Needed behind a reverse proxy on the same machine when the server
 * listens on 127.0.0.1: see the allowedHosts option.
 */
export function allowedHostsFromEnv(): string[] | undefined {
  const list = process.env.ALLOWED_HOSTS?.split(',').map((h) => h.trim()).filter(Boolean)
  return list && list.length > 0 ? list : undefined
}

/**
 * The long-poll options from LONGPOLL_SECRET, the key that signs long-poll session tokens. Every
 * node of a cluster needs the same one, so that a long-poll request that lands on another node
 * than its session's (a load balancer without sticky sessions) is relayed there. Unset: a random
 * key per process, which is all one process needs.
 */
export function longPollFromEnv(): { secret?: string } {
  const secret = process.env.LONGPOLL_SECRET
  return secret ? { secret } : {}
}

/**
 * A throw in a handler's own code is caught and ends only that channel, but a promise nobody
 * awaits (or a throw in a timer) escapes every framework: Node's default is to exit. A chat
 * server should log it and keep serving its other users.
 */
export function keepServingOnUnhandledRejection(log: (err: unknown) => void = (err) => console.error('unhandled rejection', err)): void {
  process.on('unhandledRejection', (err) => log(err))
}

/** The request URL for logs: the path only, since query strings carry tokens. */
export function pathForLogs(url: string | undefined): string {
  const q = (url ?? '/').indexOf('?')
  return q < 0 ? (url ?? '/') : `${url!.slice(0, q)}?…`
}

/**
 * The Redis adapter from the environment: REDIS_CLUSTER (seed nodes, `host:port,host:port,...`)
 * for a Redis Cluster (7 or later), else REDIS_URL for one Redis; neither, undefined (the
 * in-memory default). A malformed REDIS_CLUSTER, or both set, stops the start-up with one line.
 */
export async function adapterFromEnv() {
  const url = process.env.REDIS_URL
  const seeds = process.env.REDIS_CLUSTER
  if (!url && !seeds) return undefined
  const { parseClusterNodes, redisAdapter } = await import('@hornbeam/redis')
  if (!seeds) return redisAdapter({ url })
  if (url) return stop('set REDIS_URL (one Redis) or REDIS_CLUSTER (a Redis Cluster), not both')
  try {
    return redisAdapter({ cluster: { nodes: parseClusterNodes(seeds) } })
  } catch (err) {
    return stop((err as Error).message)
  }
}

function stop(line: string): never {
  console.error(line)
  process.exit(1)
}

/**
 * The worker processes to run (`runWorkers(start, workersFromEnv())`), from WORKERS: a number, or
 * `auto` for one per core (os.availableParallelism()); unset, one process and no cluster. Workers
 * share one port, and share channels and presence through Redis: WORKERS above 1 without
 * REDIS_URL or REDIS_CLUSTER stops the start-up with one line saying so. The workers get one LONGPOLL_SECRET (a
 * random one when unset), since any worker may receive a long-poll request.
 */
export function workersFromEnv(): WorkersOptions {
  const raw = process.env.WORKERS?.trim()
  if (!raw) return {}
  let workers: number
  try {
    workers = workerCount(raw === 'auto' ? 'auto' : Number(raw))
  } catch {
    return stop(`WORKERS must be a positive whole number or auto, not ${raw}`)
  }
  if (workers > 1 && !process.env.REDIS_URL && !process.env.REDIS_CLUSTER) {
    return stop(`WORKERS=${raw} needs REDIS_URL: workers share channels and presence through Redis (REDIS_URL=redis://127.0.0.1:6379)`)
  }
  return { workers, env: { LONGPOLL_SECRET: process.env.LONGPOLL_SECRET ?? randomBytes(32).toString('base64') } }
}
