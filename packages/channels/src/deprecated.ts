/**
 * Names kept for one release after they moved or were renamed (see the CHANGELOG); each says
 * where it went.
 */
import { originAllowed as originAllowedNow, tokenFromProtocols as tokenFromProtocolsNow } from './auth.js'
import type { PresenceMeta } from './presence/state.js'
import { PresenceSet } from './presence/state.js'
import { endpointPaths as endpointPathsNow, refuseUpgrade as refuseUpgradeNow } from './upgrade.js'
import type { Prepared as PreparedNow, Refusal as RefusalNow, UpgradeHandler as UpgradeHandlerNow } from './upgrade.js'

/** @deprecated Renamed `PresenceMeta` (the client's `Meta` is a meta as received, with its ref). */
export type Meta = PresenceMeta
/** @deprecated The presence CRDT, renamed `PresenceSet` and internal (the client's `PresenceState` is a list as received). */
export const PresenceState = PresenceSet
/** @deprecated Import it from `@hornbeam/channels/adapter`. */
export const endpointPaths = endpointPathsNow
/** @deprecated Import it from `@hornbeam/channels/adapter`. */
export const refuseUpgrade = refuseUpgradeNow
/** @deprecated Import it from `@hornbeam/channels/adapter`. */
export const originAllowed = originAllowedNow
/** @deprecated Import it from `@hornbeam/channels/adapter`. */
export const tokenFromProtocols = tokenFromProtocolsNow
/** @deprecated Import it from `@hornbeam/channels/adapter`. */
export type Prepared = PreparedNow
/** @deprecated Import it from `@hornbeam/channels/adapter`. */
export type Refusal = RefusalNow
/** @deprecated Import it from `@hornbeam/channels/adapter`. */
export type UpgradeHandler = UpgradeHandlerNow
