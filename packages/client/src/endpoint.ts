import { TRANSPORT_SEGMENT } from './constants.js'

/** Values sent as the connection's query parameters. null and undefined are left out. */
export type Params = Record<string, string | number | boolean | null | undefined>

/** What endPointURL needs of the page's location (window.location has it). */
export interface LocationLike {
  href: string
}

/**
 * The URL the socket opens. The seed's client appends `/websocket` to the endpoint's path, and
 * so does this one (unless the path already ends with it). A path (`/ws`) or protocol-relative
 * (`//host/ws`) endpoint resolves against the page's location, `ws:` under `http:` and `wss:`
 * under `https:`; an `http(s)://` endpoint becomes `ws(s)://`. Params go in the query; params
 * already in the endpoint's query stay. With no page (Node) a relative endpoint is an error,
 * unless `relativeOk` (the socket was given its transport): it is then passed on unresolved.
 */
export function endPointURL(
  endPoint: string,
  params: Params,
  location: LocationLike | undefined = (globalThis as { location?: LocationLike }).location,
  relativeOk = false,
): string {
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(endPoint)
  const unresolvable = !absolute && (location === undefined || typeof location.href !== 'string')
  if (unresolvable && !relativeOk) {
    throw new Error(
      `endpoint "${endPoint}" is relative and there is no page location to resolve it against: ` +
        'outside a browser, give an absolute URL such as ws://127.0.0.1:4000/ws',
    )
  }
  // A relative endpoint with an explicit transport is the transport's business: it gets the
  // endpoint's path (and host, if protocol-relative) with the params, unresolved.
  const url = absolute ? new URL(endPoint) : new URL(endPoint, unresolvable ? 'ws://unresolved.invalid' : location!.href)
  if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol === 'https:') url.protocol = 'wss:'
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new Error(`endpoint "${endPoint}" must be a ws:, wss:, http: or https: URL, or a path`)
  }
  const path = url.pathname.replace(/\/+$/, '')
  if (!path.endsWith(`/${TRANSPORT_SEGMENT}`)) url.pathname = `${path}/${TRANSPORT_SEGMENT}`
  for (const key of Object.keys(params)) {
    const value = params[key]
    if (value !== null && value !== undefined) url.searchParams.set(key, String(value))
  }
  if (!unresolvable) return url.toString()
  return `${endPoint.startsWith('//') ? `//${url.host}` : ''}${url.pathname}${url.search}`
}
