/**
 * @hornbeam/nestjs: Hornbeam channels for NestJS. `ChannelsModule.forRoot({ path })`, channel
 * classes declared with `@Channel(pattern)` and `@OnJoin()` / `@OnEvent(event)` / `@OnLeave()`,
 * `ChannelsService` for the rest of the app, the connect hook as a provider (`ChannelsConnect`).
 */
export { ChannelsModule } from './channels.module.js'
export { ChannelsService } from './channels.service.js'
export { Channel, OnJoin, OnEvent, OnLeave, InjectHub } from './decorators.js'
export type { HookDecorator } from './decorators.js'
export { CHANNELS_HUB, CHANNELS_MODULE_OPTIONS } from './constants.js'
export type { ChannelsConnect, ChannelsConnectOption, ChannelsModuleOptions, ChannelsModuleAsyncOptions } from './interfaces.js'
export { nestLogger } from './logger.js'
// The core's result helpers, for methods without a return type: `return reply({ pong: true })`.
export { ok, error, reply, noreply, stop } from '@hornbeam/channels'
export type {
  Assigns, BroadcastResult, ChannelOptions, ConnectHook, ConnectInfo, EventHandler, EventResult, Hub, HubOptions, HubStats,
  JoinHandler, JoinResult, LeaveHandler, LeaveReason, Payload, PresenceList, Socket, TopicParams, TopicPresence,
} from '@hornbeam/channels'
