/** History options, per channel pattern (`hub.channel(pattern, { history })`) or hub-wide. */
export interface HistoryOptions {
  /** Messages kept per topic. Default 100. */
  size: number
  /** How long a message is kept, in ms. Default 120 000 (two minutes). */
  ttlMs: number
  /** The most messages one resume replays; a client that missed more gets `recovered: false`. Default 1000. */
  maxReplay: number
}

/** `false` turns history off; an object tunes it (the rest keeps the hub's defaults). */
export type HistorySetting = false | Partial<HistoryOptions>

export const defaultHistoryOptions: HistoryOptions = { size: 100, ttlMs: 120_000, maxReplay: 1000 }

/** Why a resume could not replay everything the client missed. */
export type ResumeFailure =
  | 'history off'
  | 'malformed position'
  | 'unknown epoch'
  | 'position from the future'
  | 'messages expired'
  | 'too many missed'
  | 'history unavailable'

/** What a resume found: the messages to replay, the topic's position, and whether that is all. */
export interface ResumeOutcome<M> {
  /** The position of the last message of the topic (what the client holds once it has them). */
  position: string
  recovered: boolean
  reason?: ResumeFailure
  messages: M[]
}

/** What a join asked of the history, from its reserved params (taken out before the join handler). */
export interface HistoryRequest {
  /** `hb_position`: the last position the client saw (raw, validated by the engine's caller). */
  position: unknown
  /** `hb_previous`: the client's previous connection id (what it broadcast is not replayed to it). */
  previous: string | undefined
  /** `hb_recent`: on a first join, the last N messages. */
  recent: number
}

/** The reserved join params. */
export const HISTORY_PARAMS = { position: 'hb_position', previous: 'hb_previous', recent: 'hb_recent' } as const

/** Takes the reserved params out of a join's payload (mutates it: the handler never sees them). */
export function takeHistoryRequest(params: Record<string, unknown>): HistoryRequest | undefined {
  const position = params[HISTORY_PARAMS.position]
  const previous = params[HISTORY_PARAMS.previous]
  const recent = params[HISTORY_PARAMS.recent]
  if (position === undefined && previous === undefined && recent === undefined) return undefined
  delete params[HISTORY_PARAMS.position]
  delete params[HISTORY_PARAMS.previous]
  delete params[HISTORY_PARAMS.recent]
  return {
    position: position === null ? undefined : position,
    previous: typeof previous === 'string' && previous.length <= 64 ? previous : undefined,
    recent: typeof recent === 'number' && Number.isInteger(recent) && recent > 0 ? recent : 0,
  }
}
