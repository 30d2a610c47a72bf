// A plain SVG of a run's goals: one bar per goal, its measured value as a share of the goal's
// limit (the line at 1 is the goal; left of it is met), with the measured value and the peer's
// beside it. For benchmarks whose figures are a handful of goals rather than curves.
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * @param {string} title
 * @param {{ label: string, value: number, limit: number, unit?: string, peer?: number }[]} goals
 */
export function goalChartSvg(title, goals) {
  const rowH = 34
  const left = 330
  const barW = 360
  const width = left + barW + 190
  const height = 60 + goals.length * rowH + 30
  const scaleMax = Math.max(2, ...goals.map((g) => Math.min(4, g.value / g.limit)))
  const x = (share) => left + (Math.min(share, scaleMax) / scaleMax) * barW
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="42" fill="#555">measured ÷ goal (the line at 1 is the goal: shorter is met)</text>`,
  ]
  goals.forEach((g, i) => {
    const y = 60 + i * rowH
    const share = g.value / g.limit
    const met = share <= 1
    const unit = g.unit ?? ''
    out.push(`<text x="10" y="${y + 16}">${esc(g.label)}</text>`)
    out.push(`<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(share) - left)}" height="16" fill="${met ? '#3a7d44' : '#c0392b'}"/>`)
    const peer = g.peer !== undefined ? ` (peer ${+g.peer.toFixed(3)}${unit})` : ''
    out.push(`<text x="${x(share) + 6}" y="${y + 16}">${esc(`${+g.value.toFixed(3)}${unit} / ${g.limit}${unit}${peer}`)}</text>`)
  })
  const goalX = x(1)
  out.push(`<line x1="${goalX}" y1="52" x2="${goalX}" y2="${height - 24}" stroke="#000" stroke-dasharray="4 3"/>`)
  out.push(`<text x="${goalX - 12}" y="${height - 10}">goal</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
