// @hornbeam/express on Express 4 (the `express4` alias of express@4), against real listening servers.
import t from 'tap'
// @ts-ignore: the alias has no type declarations of its own
import express4 from 'express4'
import { authRefusal, chatFlow, longPollFlow, restRoutes } from './fixtures/scenarios.js'

const express = express4 as typeof import('express')

t.test('the alias really is Express 4', async (t) => {
  t.equal(typeof (express4 as any).application.lazyrouter, 'function', 'Express 4 has app.lazyrouter; 5 does not')
})

t.test('Express 4: chat flow with app.use(mw) + app.listen(0)', (t) => chatFlow(t, express, 'app'))
t.test('Express 4: chat flow with http.createServer(app) + mw.attach', (t) => chatFlow(t, express, 'attach'))
t.test('Express 4: auth middleware refuses the upgrade with 401', (t) => authRefusal(t, express, 'app'))
t.test('Express 4: REST routes use req.channels', (t) => restRoutes(t, express))
t.test('Express 4: long-poll at /ws/longpoll through the app', (t) => longPollFlow(t, express, 'app'))
