import { BadRequestException, Body, Controller, Get, Header, HttpCode, Param, Post } from '@nestjs/common'
import { ChannelsService } from '@hornbeam/nestjs'
import { chatPage } from './chat.js'

@Controller()
export class ChatController {
  constructor(private readonly channels: ChannelsService) {}

  /** The chat page; it loads the client bundle the module serves at /ws/hornbeam.js. */
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return chatPage
  }

  @Get('healthz')
  health() {
    return { ok: true }
  }

  /** A REST route into the chat: `{"body": "..."}` appears in the room as a message from "announcement". */
  @Post('rooms/:id/announce')
  @HttpCode(202)
  async announce(@Param('id') id: string, @Body() payload: { body?: unknown } | undefined) {
    const body = typeof payload?.body === 'string' ? payload.body.trim() : ''
    if (!body) throw new BadRequestException('body must be a non-empty string')
    await this.channels.broadcast(`room:${id}`, 'new_msg', { username: 'announcement', body })
    return { sent: true }
  }
}
