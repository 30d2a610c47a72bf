/**
 * The decorators: `@Channel(pattern, options?)` on a provider class, `@OnJoin()`, `@OnEvent(event)`
 * and `@OnLeave()` on its methods. They only record metadata; the module finds the classes at
 * init (DiscoveryService, MetadataScanner) and registers each method as the core's hook, called
 * with the hook's own arguments: `onJoin(topic, topicParams, params, socket)`,
 * `on(event)(payload, socket)`, `onLeave(topic, socket, reason)`.
 *
 * They are TypeScript's `experimentalDecorators` (what NestJS uses), and check each method's type
 * against the core's handler type: arguments and return forms (`['ok', response?, socket?]`, ...).
 * A method's payload and params may be typed as the channel's schemas or contract make them.
 */
import 'reflect-metadata'
import { Inject } from '@nestjs/common'
import type { ChannelOptions, EventResult, JoinResult, LeaveHandler, Socket, TopicParams } from '@hornbeam/channels'
import { CHANNEL_HOOKS_METADATA, CHANNEL_METADATA, CHANNELS_HUB } from './constants.js'

/** @internal What `@Channel` records on the class. */
export interface ChannelMetadata {
  pattern: string
  options: ChannelOptions
}

/** @internal What the method decorators record, per method (one method may carry several). */
export type HookMetadata = { kind: 'join' } | { kind: 'leave' } | { kind: 'event'; event: string }

/** The methods `@OnJoin()` takes: params typed as the method likes (the schemas' output, say). */
export type JoinMethod = (
  topic: string,
  topicParams: TopicParams,
  params: any,
  socket: Socket<any, any>,
) => JoinResult<any, any> | Promise<JoinResult<any, any>>

/** The methods `@OnEvent(event)` takes: the payload typed as the method likes. */
export type EventMethod = (payload: any, socket: Socket<any, any>) => EventResult<any, any> | Promise<EventResult<any, any>>

/** A method decorator that accepts only methods of type `H`. */
export type HookDecorator<H> = <M extends H>(
  target: object,
  propertyKey: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void

/**
 * Declares the class as the server side of a topic pattern (`'room:*'`, `'chat:*:*'`, an exact
 * topic), as `hub.channel(pattern, options)` does. List the class as a provider: it gets its
 * dependencies injected like any other (it must be a singleton: no request or transient scope).
 */
export function Channel(pattern: string, options: ChannelOptions = {}): ClassDecorator {
  if (typeof pattern !== 'string' || pattern.length === 0) throw new TypeError('@Channel(pattern): the pattern must be a non-empty string')
  return function (target: Function) {
    assertLegacy(arguments, 'Channel')
    Reflect.defineMetadata(CHANNEL_METADATA, { pattern, options } satisfies ChannelMetadata, target)
  } as ClassDecorator
}

/** The join hook: `(topic, topicParams, params, socket) => ['ok', response?, socket?] | ['error', reason]`, sync or async. */
export function OnJoin(): HookDecorator<JoinMethod> {
  return hook({ kind: 'join' }, 'OnJoin')
}

/** The hook for one event the client pushes: `(payload, socket) => ['reply', response, socket?] | ['noreply', socket?] | ['stop', reason, socket?]`. */
export function OnEvent(event: string): HookDecorator<EventMethod> {
  if (typeof event !== 'string' || event.length === 0) throw new TypeError('@OnEvent(event): the event must be a non-empty string')
  return hook({ kind: 'event', event }, `OnEvent('${event}')`)
}

/** The leave hook: `(topic, socket, reason)`, once per channel whatever ended it (`reason` says what). */
export function OnLeave(): HookDecorator<LeaveHandler<any, any>> {
  return hook({ kind: 'leave' }, 'OnLeave')
}

/** `@InjectHub() hub: Hub`: the hub itself (same as `@Inject(CHANNELS_HUB)`). */
export function InjectHub(): PropertyDecorator & ParameterDecorator {
  return Inject(CHANNELS_HUB)
}

function hook<H>(metadata: HookMetadata, name: string): HookDecorator<H> {
  return function (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor | undefined) {
    assertLegacy(arguments, name)
    if (typeof target === 'function') throw new TypeError(`@${name} on static ${String(propertyKey)}: decorate an instance method`)
    if (typeof descriptor?.value !== 'function') throw new TypeError(`@${name} on ${String(propertyKey)}: decorate a method`)
    const hooks: HookMetadata[] = Reflect.getOwnMetadata(CHANNEL_HOOKS_METADATA, target, propertyKey) ?? []
    Reflect.defineMetadata(CHANNEL_HOOKS_METADATA, [...hooks, metadata], target, propertyKey)
  } as HookDecorator<H>
}

/** Under TC39 decorators (no `experimentalDecorators`), the second argument is a context object. */
function assertLegacy(args: IArguments, name: string): void {
  const second = args[1]
  if (second !== null && typeof second === 'object' && 'kind' in second) {
    throw new TypeError(`@${name}: @hornbeam/nestjs decorators, like NestJS's, need "experimentalDecorators": true in tsconfig.json`)
  }
}

/** @internal */
export function channelMetadata(type: Function): ChannelMetadata | undefined {
  return Reflect.getMetadata(CHANNEL_METADATA, type)
}

/** @internal */
export function hookMetadata(prototype: object, method: string): HookMetadata[] {
  return Reflect.getMetadata(CHANNEL_HOOKS_METADATA, prototype, method) ?? []
}
