// The SVG chart of a run: deliveries/s and server CPU per delivery against subscribers.
import { colorOf, fanoutCell, fmtInt, sizeName } from './report.mjs'

// -- the chart: deliveries/s (top) and server CPU µs per delivery (bottom) against subscribers,
// one line per server, one column per payload size. Plain SVG, no dependencies.

function niceMax(v) {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function shortNumber(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(2)}M`
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`
  return `${+v.toFixed(2)}`
}

export function renderSvg(result) {
  const servers = result.config.servers
  const subs = [...new Set(result.fanout.map((r) => r.subscribers))].sort((a, b) => a - b)
  const sizes = [...new Set(result.fanout.flatMap((r) => r.cells.map((c) => c.size)))].sort((a, b) => a - b)
  const panelW = 420
  const panelH = 260
  const margin = { left: 70, right: 20, top: 40, bottom: 45 }
  const cols = Math.max(1, sizes.length)
  const metrics = [
    { key: 'deliveriesPerSecond', title: 'deliveries/s (higher is better)' },
    { key: 'serverCpuMicrosPerDelivery', title: 'server CPU µs per delivery (lower is better)' },
  ]
  const width = cols * (panelW + margin.left + margin.right) + 20
  const legendH = 64
  const height = legendH + metrics.length * (panelH + margin.top + margin.bottom) + 20
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(`Hornbeam Channels fan-out, ${result.mode} run, ${result.startedAt.slice(0, 10)}`)}</text>`)
  out.push(`<text x="10" y="38" fill="#444">${esc(`${result.machine.cpuCount} × ${result.machine.cpuModel}, Node ${result.machine.node}; one topic, N subscribers; x axis: subscribers`)}</text>`)
  // legend
  let lx = 10
  servers.forEach((s) => {
    const y = legendH - 2
    out.push(`<line x1="${lx}" y1="${y}" x2="${lx + 24}" y2="${y}" stroke="${colorOf(result, s)}" stroke-width="2.5"${s === 'ws-raw' ? ' stroke-dasharray="6 3"' : ''}/>`)
    out.push(`<circle cx="${lx + 12}" cy="${y}" r="3.5" fill="${colorOf(result, s)}"/>`)
    const text = result.servers[s]?.label ?? s
    out.push(`<text x="${lx + 30}" y="${y + 4}">${esc(text)}</text>`)
    lx += 40 + text.length * 6.6
  })
  metrics.forEach((metric, mi) => {
    sizes.forEach((size, si) => {
      const ox = 10 + si * (panelW + margin.left + margin.right) + margin.left
      const oy = legendH + 10 + mi * (panelH + margin.top + margin.bottom) + margin.top
      const series = servers.map((s) => ({
        server: s,
        points: subs
          .map((n) => [n, fanoutCell(result, s, n, size)?.throughput?.[metric.key]])
          .filter(([, v]) => typeof v === 'number' && Number.isFinite(v)),
      }))
      const maxY = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1]))))
      const maxX = subs.at(-1) ?? 1
      const x = (n) => ox + (n / maxX) * panelW
      const y = (v) => oy + panelH - (v / maxY) * panelH
      out.push(`<text x="${ox}" y="${oy - 12}" font-weight="bold">${esc(`${metric.title}, ${sizeName(size)} payload`)}</text>`)
      // grid and y ticks
      for (let i = 0; i <= 5; i++) {
        const v = (maxY * i) / 5
        out.push(`<line x1="${ox}" y1="${y(v)}" x2="${ox + panelW}" y2="${y(v)}" stroke="#e5e5e5"/>`)
        out.push(`<text x="${ox - 6}" y="${y(v) + 4}" text-anchor="end" fill="#333">${shortNumber(v)}</text>`)
      }
      out.push(`<line x1="${ox}" y1="${oy + panelH}" x2="${ox + panelW}" y2="${oy + panelH}" stroke="#333"/>`)
      out.push(`<line x1="${ox}" y1="${oy}" x2="${ox}" y2="${oy + panelH}" stroke="#333"/>`)
      for (const n of [0, ...subs]) {
        out.push(`<line x1="${x(n)}" y1="${oy + panelH}" x2="${x(n)}" y2="${oy + panelH + 5}" stroke="#333"/>`)
        out.push(`<text x="${x(n)}" y="${oy + panelH + 18}" text-anchor="middle" fill="#333">${fmtInt(n)}</text>`)
      }
      out.push(`<text x="${ox + panelW / 2}" y="${oy + panelH + 36}" text-anchor="middle" fill="#333">subscribers</text>`)
      for (const s of series) {
        if (s.points.length === 0) continue
        const color = colorOf(result, s.server)
        const d = s.points.map(([n, v], i) => `${i ? 'L' : 'M'}${x(n).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
        out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.server === 'ws-raw' ? ' stroke-dasharray="6 3"' : ''}/>`)
        for (const [n, v] of s.points) {
          out.push(`<circle cx="${x(n).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(`${result.servers[s.server]?.label ?? s.server}, ${fmtInt(n)} subscribers: ${shortNumber(v)}`)}</title></circle>`)
        }
      }
    })
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
