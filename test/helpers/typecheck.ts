/**
 * Type tests: compile a file with the TypeScript compiler API under strict, as a user would, and
 * compare its errors with the ones the file marks (`// TSnnnn` at the end of a line that must
 * fail with that code).
 */
import { readFileSync } from 'node:fs'
import ts from 'typescript'

const options: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  esModuleInterop: true,
  types: ['node'],
}

export interface Found {
  file: string
  line: number
  code: number
  text: string
}

export function diagnose(file: string): Found[] {
  return ts.getPreEmitDiagnostics(ts.createProgram([file], options)).map((d) => ({
    file: d.file?.fileName ?? '',
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
    code: d.code,
    text: ts.flattenDiagnosticMessageText(d.messageText, ' '),
  }))
}

/** `line:TScode` for every `// TSnnnn` mark in the file. */
export function markedErrors(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line, i) => [...line.matchAll(/\/\/ TS(\d+)/g)].map((m) => `${i + 1}:TS${m[1]}`))
}

export const show = (d: Found) => `${d.file}:${d.line} TS${d.code} ${d.text}`
