/**
 * An ordinary REST API for a message board, which gained realtime with one registration:
 * messages created with POST appear on every socket joined to the board's topic, and the
 * sockets joined to it appear in GET /boards/:id/online.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import channels from '@hornbeam/fastify'

interface Message {
  id: number
  board: string
  author: string
  body: string
  at: string
}

export async function buildApp(options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false })
  const messages: Message[] = []

  // The one line that adds realtime.
  await app.register(channels, { path: '/ws' })

  // Who may listen to a board: anyone with a name; they show up in GET /boards/:id/online.
  app.channel('board:*').onJoin((topic, { board_id }, params, socket) => {
    if (typeof params.name !== 'string' || !params.name) return ['error', { reason: 'name required' }]
    app.presence(topic).track(socket, params.name, { name: params.name, since: new Date().toISOString() })
    return ['ok', { board: board_id, messages: messages.filter((m) => m.board === board_id).slice(-20) }, socket]
  })

  // The REST API as it was, plus one broadcast in the POST handler.
  app.get<{ Params: { id: string } }>('/boards/:id/messages', async (request) =>
    messages.filter((m) => m.board === request.params.id),
  )

  app.post<{ Params: { id: string }; Body: { author?: string; body?: string } }>('/boards/:id/messages', async (request, reply) => {
    const { author, body } = request.body ?? {}
    if (!author || !body) return reply.code(400).send({ error: 'author and body are required' })
    const message: Message = { id: messages.length + 1, board: request.params.id, author, body, at: new Date().toISOString() }
    messages.push(message)
    request.channels.broadcast(`board:${message.board}`, 'message_created', message)
    return reply.code(201).send(message)
  })

  app.get<{ Params: { id: string } }>('/boards/:id/online', async (request) => {
    const online = request.channels.presence(`board:${request.params.id}`).list()
    return Object.entries(online).map(([name, { metas }]) => ({ name, connections: metas.length }))
  })

  return app
}
