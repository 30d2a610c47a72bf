// The chat's Dockerfile and docker-compose.yml, checked as text against the code (no container
// engine runs here): the compose services, ports and environment are what the example reads,
// the load balancer points at the nodes' port, and the image is a small production one.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { root } from './helpers/examples.js'

const example = join(root, 'examples/chat-fastify')
const read = (file: string) => readFileSync(join(example, file), 'utf8')

/** The environment variables the example's code reads (process.env.X). */
function envRead(): Set<string> {
  const code = read('src/server.ts') + read('src/chat.ts')
  return new Set([...code.matchAll(/process\.env\.([A-Z_]+)/g)].map((m) => m[1]!))
}

t.test('docker-compose.yml: two chat nodes and Redis behind one port, configured as the code reads', async (t) => {
  const compose = parse(read('docker-compose.yml'))
  const services = compose.services as Record<string, any>
  t.same(Object.keys(services).sort(), ['chat-a', 'chat-b', 'lb', 'redis'])
  const reads = envRead()
  t.ok(reads.has('PORT') && reads.has('HOST') && reads.has('REDIS_URL'), `the example reads PORT, HOST, REDIS_URL (${[...reads].join(', ')})`)
  for (const name of ['chat-a', 'chat-b']) {
    const node = services[name]
    t.equal(node.build.dockerfile, 'examples/chat-fastify/Dockerfile', `${name}: this example's image`)
    t.equal(join(example, node.build.context, '/'), join(root, '/'), `${name}: built from the repository root`)
    for (const key of Object.keys(node.environment)) t.ok(reads.has(key), `${name}: ${key} is read by the code`)
    t.match(node.environment.REDIS_URL, /^redis:\/\/redis:6379$/, `${name}: REDIS_URL names the redis service`)
    t.equal(node.environment.HOST, '0.0.0.0', `${name}: listens beyond loopback inside its container`)
  }
  t.ok(services['chat-a'].environment.LONGPOLL_SECRET, 'a long-poll secret is set')
  t.equal(services['chat-a'].environment.LONGPOLL_SECRET, services['chat-b'].environment.LONGPOLL_SECRET, 'the same on both nodes: long-poll requests are relayed across the unsticky balancer')
  const nginx = readFileSync(join(example, 'deploy/nginx.conf'), 'utf8')
  const upstream = [...nginx.matchAll(/server (chat-[ab]):(\d+);/g)]
  t.same(upstream.map((m) => m[1]), ['chat-a', 'chat-b'], 'the balancer spreads over both nodes')
  for (const [, name, port] of upstream) t.equal(port, services[name!].environment.PORT, `${name} is reached on the PORT it listens on`)
  t.match(nginx, /proxy_set_header Upgrade \$http_upgrade/, 'WebSocket upgrades pass through')
  t.match(nginx, /proxy_set_header Host \$http_host/, 'the Host keeps its port, as the origin check compares it with the Origin')
  const listen = /listen (\d+);/.exec(nginx)![1]
  t.same(services.lb.ports, [`3000:${listen}`], 'one port outside, the one the balancer listens on')
  t.match(services.lb.volumes[0], /^\.\/deploy\/nginx\.conf:/)
})

t.test('Dockerfile: multi-stage, production dependencies only, non-root, a health check, the built server', async (t) => {
  const dockerfile = read('Dockerfile')
  const stages = [...dockerfile.matchAll(/^FROM (\S+)( AS (\w+))?/gm)]
  t.ok(stages.length >= 2, 'a build stage and a run stage')
  const run = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  t.match(dockerfile, /RUN npm run build/, 'the build stage builds')
  t.match(run, /npm ci --omit=dev/, 'the run stage installs production dependencies only')
  t.match(run, /^USER node$/m, 'runs as a non-root user')
  t.match(run, /^HEALTHCHECK /m)
  const health = /\/healthz/.test(run)
  t.ok(health, 'the health check asks /healthz')
  t.match(read('src/server.ts'), /app\.get\('\/healthz'/, 'which the server answers')
  const cmd = /^CMD \["node", "([^"]+)"\]/m.exec(run)
  t.ok(cmd, 'starts node on a file, not a script that builds')
  t.equal(cmd![1], 'examples/chat-fastify/dist/server.js')
  t.match(run, /ENV NODE_ENV=production HOST=0\.0\.0\.0 PORT=3000/)
})
