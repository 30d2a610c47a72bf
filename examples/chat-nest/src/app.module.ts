import { Module } from '@nestjs/common'
import { ChannelsModule } from '@hornbeam/nestjs'
import { adapterFromEnv, allowedHostsFromEnv, longPollFromEnv } from './chat.js'
import { ChatChannel } from './chat.channel.js'
import { ChatController } from './chat.controller.js'

@Module({
  imports: [
    // Channels on /ws (and /ws/websocket), the client bundle on /ws/hornbeam.js; Redis when
    // REDIS_URL is set (connected before the app listens).
    ChannelsModule.forRootAsync({
      useFactory: async () => ({ path: '/ws', adapter: await adapterFromEnv(), allowedHosts: allowedHostsFromEnv(), longPoll: longPollFromEnv() }),
    }),
  ],
  providers: [ChatChannel],
  controllers: [ChatController],
})
export class AppModule {}
