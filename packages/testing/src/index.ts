/**
 * @hornbeam/testing: test channel handlers in process, without sockets (`channelTest`).
 */
export { channelTest, ConnectRefused } from './kit.js'
export type { ChannelTest, ChannelTestOptions } from './kit.js'
export { TestSocket } from './test-socket.js'
export type { Frame } from './test-socket.js'
export { TestChannel } from './test-channel.js'
export type { Reply, WaitOptions } from './test-channel.js'
export { TimeoutError } from './wait.js'
