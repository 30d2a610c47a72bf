import { Inject, Injectable } from '@nestjs/common'
import type { Hub } from '@hornbeam/channels'
import { CHANNELS_HUB } from './constants.js'

/**
 * The hub, for the rest of the app (controllers, services, jobs): broadcast to a topic's
 * subscribers on every node, list who is present, close a user's sockets. Each method is the
 * hub's own, bound (same signature and typing); `hub` is the hub itself, for everything else
 * (`hub.channel(...)`, `hub.endpoint`, ...).
 */
@Injectable()
export class ChannelsService {
  /** Sends `event` to every subscriber of `topic`, on every node; resolves with its history position. */
  readonly broadcast: Hub['broadcast']
  /** Sends `event` to every subscriber of the socket's topic but that socket. */
  readonly broadcastFrom: Hub['broadcastFrom']
  /** Presence on one topic: track, update, untrack, list, get. */
  readonly presence: Hub['presence']
  /** Closes every socket the `id` hook named `id`, on every node (default 1000 'disconnected'). */
  readonly disconnect: Hub['disconnect']
  /** Connections, channels, topics, counters. */
  readonly stats: Hub['stats']

  constructor(@Inject(CHANNELS_HUB) readonly hub: Hub) {
    this.broadcast = hub.broadcast.bind(hub) as Hub['broadcast']
    this.broadcastFrom = hub.broadcastFrom.bind(hub) as Hub['broadcastFrom']
    this.presence = hub.presence.bind(hub)
    this.disconnect = hub.disconnect.bind(hub)
    this.stats = hub.stats.bind(hub)
  }
}
