// Reading a process's CPU time and resident memory from /proc, as the brief asks: the figures
// come from the kernel, not from the process under test, so every server is measured alike.
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import os from 'node:os'

let ticks = 100
try {
  ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
} catch {}
export const CLK_TCK = ticks

/** CPU time (user + system, all threads) of a process, in microseconds; NaN when it is gone. */
export function cpuMicros(pid) {
  const { user, system } = cpuTimes(pid)
  return user + system
}

/** A process's CPU time in user and in system (kernel) mode, in microseconds; NaN when it is gone. */
export function cpuTimes(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may hold spaces: fields are counted after the closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { user: (Number(fields[11]) * 1e6) / CLK_TCK, system: (Number(fields[12]) * 1e6) / CLK_TCK }
  } catch {
    return { user: NaN, system: NaN }
  }
}

/** Resident set size of a process in bytes (VmRSS), NaN when it is gone. */
export function rssBytes(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return m ? Number(m[1]) * 1024 : NaN
  } catch {
    return NaN
  }
}

/** Whole-machine CPU counters from /proc/stat (all cores), in ticks: busy and total. */
export function machineTicks() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
    const v = line.trim().split(/\s+/).slice(1).map(Number)
    const idle = v[3] + (v[4] || 0)
    const total = v.reduce((a, b) => a + b, 0)
    return { busy: total - idle, total }
  } catch {
    return { busy: NaN, total: NaN }
  }
}

/**
 * A snapshot of CPU time for a set of named pids plus the machine, to subtract from a later one.
 * `groups` is { server: [pid], clients: [pid, pid], ... }.
 */
export function cpuSnapshot(groups) {
  const snap = { at: process.hrtime.bigint(), machine: machineTicks(), groups: {}, system: {} }
  for (const [name, pids] of Object.entries(groups)) {
    const times = pids.map(cpuTimes)
    snap.groups[name] = times.reduce((sum, t) => sum + t.user + t.system, 0)
    snap.system[name] = times.reduce((sum, t) => sum + t.system, 0)
  }
  return snap
}

/**
 * What happened between two snapshots: wall time, each group's CPU micros and its share of one
 * core (1.0 = one core busy the whole time), and the machine's busy share of all cores.
 */
export function cpuDelta(a, b) {
  const wallMicros = Number(b.at - a.at) / 1000
  const groups = {}
  for (const name of Object.keys(a.groups)) {
    const micros = b.groups[name] - a.groups[name]
    // Of which in the kernel (system calls, page faults), when both snapshots have it.
    const systemMicros = a.system?.[name] !== undefined ? b.system[name] - a.system[name] : NaN
    groups[name] = { cpuMicros: micros, systemMicros, coreShare: micros / wallMicros }
  }
  const dt = b.machine.total - a.machine.total
  return {
    wallMicros,
    groups,
    machineBusyShare: dt > 0 ? (b.machine.busy - a.machine.busy) / dt : NaN,
  }
}

/** The machine's description, written at the head of every result file. */
export function machineInfo() {
  const cpus = os.cpus()
  let fdLimit
  try {
    fdLimit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim())
  } catch {}
  let portRange
  try {
    portRange = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
  } catch {}
  return {
    os: `${os.type()} ${os.release()} (${os.platform()}/${os.arch()})`,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    cpuMHz: cpus[0]?.speed,
    memoryBytes: os.totalmem(),
    node: process.version,
    v8: process.versions.v8,
    clockTicksPerSecond: CLK_TCK,
    fdLimit,
    localPortRange: portRange,
    loadAverage: os.loadavg(),
  }
}
