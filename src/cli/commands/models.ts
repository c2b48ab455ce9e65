import { type Command, InvalidArgumentError } from 'commander';
import { COMPARISON_ATTRIBUTES, type ComparisonAttribute, type RegisteredArchitecture, cardJson, comparisonCells, familyComparison, familyRowJson, registeredArchitectures } from '../../models/cards.js';
import type { CliIO } from '../io.js';

const DEFAULT_WIDTH = 100;
const MIN_WIDTH = 40;
const MAX_WIDTH = 1000;
const COLUMN_GAP = '  ';

/** `strata models` flags, after parsing. */
export interface ModelsOptions {
  readonly compare: boolean;
  readonly json: boolean;
  readonly width?: number;
}

function terminalWidth(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected a number of columns.');
  const n = Number(value);
  if (n < MIN_WIDTH || n > MAX_WIDTH) throw new InvalidArgumentError(`Expected between ${MIN_WIDTH} and ${MAX_WIDTH} columns.`);
  return n;
}

const BULLET = '• ';

/** The pieces a line may break between: words, and the parts of a hyphenated word after each hyphen. */
function breakablePieces(paragraph: string): { piece: string; joined: boolean }[] {
  return paragraph
    .split(/\s+/)
    .filter(Boolean)
    .flatMap((word) => word.split(/(?<=\w-)(?=\w)/).map((piece, k) => ({ piece, joined: k > 0 })));
}

/**
 * Splits text into lines of at most `width` characters: at each newline, at spaces and after
 * hyphens where it can, mid-word where a word is longer than a line. A paragraph that starts with
 * a bullet hangs its continuation lines under the bullet's text.
 */
export function wrapText(text: string, width: number): string[] {
  return text.split('\n').flatMap((paragraph) => {
    const hang = paragraph.startsWith(BULLET) && width > BULLET.length + 1 ? ' '.repeat(BULLET.length) : '';
    const lines: string[] = [];
    let line = '';
    const room = (): number => width - (lines.length ? hang.length : 0);
    const flush = (): void => {
      lines.push(`${lines.length ? hang : ''}${line}`);
      line = '';
    };
    for (const { piece, joined } of breakablePieces(paragraph)) {
      const sep = joined ? '' : ' ';
      if (line && line.length + sep.length + piece.length <= room()) {
        line += `${sep}${piece}`;
        continue;
      }
      if (line) flush();
      let rest = piece;
      while (rest.length > room()) {
        const r = room();
        line = rest.slice(0, r);
        rest = rest.slice(r);
        flush();
      }
      line = rest;
    }
    if (line || !lines.length) flush();
    return lines;
  });
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const longestLine = (text: string): number => Math.max(0, ...text.split('\n').map((p) => p.length));
const longestPiece = (text: string): number => Math.max(0, ...breakablePieces(text).map((p) => p.piece.length));

/**
 * Column widths that fit `total`. Each column first gets what it cannot do without: its header
 * whole and its longest unbreakable piece (then, if that is too much, headers wrap too; if even
 * that is too much, words break in proportion). The space left goes evenly to the columns that
 * still want more, narrowest first, up to their longest line.
 */
function columnWidths(header: readonly string[] | null, columns: readonly (readonly string[])[], total: number): number[] {
  const available = total - COLUMN_GAP.length * (columns.length - 1);
  const title = (i: number): string => header?.[i] ?? '';
  const natural = columns.map((cells, i) => Math.max(1, longestLine(title(i)), ...cells.map(longestLine)));
  const pieces = columns.map((cells, i) => Math.max(1, longestPiece(title(i)), ...cells.map(longestPiece)));
  let widths = columns.map((_, i) => Math.min(natural[i]!, Math.max(pieces[i]!, longestLine(title(i)))));
  if (sum(widths) > available) widths = columns.map((_, i) => Math.min(natural[i]!, pieces[i]!));
  if (sum(widths) > available) {
    const wanted = sum(widths);
    return widths.map((w) => Math.max(1, Math.floor((w * available) / wanted)));
  }
  // fill from the narrowest up, so the space evens out rather than favoring columns with long headers
  for (let left = available - sum(widths); left > 0; left--) {
    let narrowest = -1;
    for (let i = 0; i < widths.length; i++) if (widths[i]! < natural[i]! && (narrowest < 0 || widths[i]! < widths[narrowest]!)) narrowest = i;
    if (narrowest < 0) break;
    widths[narrowest]! += 1;
  }
  return widths;
}

export interface TableLayout {
  /** columns the table may use, indent included */
  width: number;
  /** spaces before every line */
  indent?: number;
  /** a blank line between rows when any cell wraps (default), or never */
  spacing?: 'when-wrapped' | 'none';
}

/**
 * A plain-text table: the header (if any) and a rule, then the rows, each cell wrapped to its
 * column. Rows are spaced apart when a cell wraps, so a reader can tell where one ends.
 */
export function renderTable(header: readonly string[] | null, rows: readonly (readonly string[])[], layout: TableLayout): string {
  const columns = Math.max(header?.length ?? 0, ...rows.map((r) => r.length));
  const margin = ' '.repeat(layout.indent ?? 0);
  const widths = columnWidths(header, Array.from({ length: columns }, (_, i) => rows.map((r) => r[i] ?? '')), layout.width - margin.length);
  const wrapped = rows.map((r) => widths.map((w, i) => wrapText(r[i] ?? '', w)));
  const spaced = layout.spacing !== 'none' && wrapped.some((cells) => cells.some((lines) => lines.length > 1));
  const line = (cells: readonly string[]): string => `${margin}${cells.map((c, i) => c.padEnd(widths[i]!)).join(COLUMN_GAP)}`.trimEnd();
  const out: string[] = [];
  const push = (cells: readonly (readonly string[])[]): void => {
    const height = Math.max(...cells.map((lines) => lines.length));
    for (let k = 0; k < height; k++) out.push(line(cells.map((lines) => lines[k] ?? '')));
  };
  if (header) {
    push(widths.map((w, i) => wrapText(header[i] ?? '', w)));
    out.push(line(widths.map((w) => '─'.repeat(w))));
  }
  wrapped.forEach((cells, r) => {
    if (spaced && r > 0) out.push('');
    push(cells);
  });
  return `${out.join('\n')}\n`;
}

function defaultWidth(): number {
  // the table fits the terminal it is shown on; piped output gets a fixed width, so it is reproducible
  return process.stdout.isTTY && process.stdout.columns ? Math.max(MIN_WIDTH, process.stdout.columns) : DEFAULT_WIDTH;
}

export function runModels(options: ModelsOptions, io: CliIO): void {
  const width = options.width ?? defaultWidth();
  if (options.compare) {
    const rows = familyComparison();
    if (options.json) {
      for (const row of rows) io.out(`${JSON.stringify(familyRowJson(row))}\n`);
      return;
    }
    const cells = rows.map(comparisonCells);
    const attributes = Object.keys(COMPARISON_ATTRIBUTES) as ComparisonAttribute[];
    io.out(renderTable(['', ...rows.map((r) => r.title)], attributes.map((a) => [COMPARISON_ATTRIBUTES[a], ...cells.map((c) => c[a])]), { width }));
    return;
  }
  const architectures = registeredArchitectures();
  if (options.json) {
    for (const a of architectures) io.out(`${JSON.stringify({ model_type: a.modelType, architecture: a.architecture, head: a.head, card: cardJson(a.card) })}\n`);
    return;
  }
  io.out(listArchitectures(architectures, width));
}

const distinct = <T>(items: readonly T[]): T[] => [...new Set(items)];

/**
 * One section per network (model_types whose classes declare the same card, as llama and mistral
 * do): what the network is, then one row per distinct architecture card (what a head makes of the
 * network) with the architectures that have it.
 */
function listArchitectures(architectures: readonly RegisteredArchitecture[], width: number): string {
  return distinct(architectures.map((a) => a.baseCard))
    .map((base) => {
      const members = architectures.filter((a) => a.baseCard === base);
      const about = renderTable(
        null,
        [
          ['families', base.families.join(', ')],
          ['network', base.architecture],
          ['data', base.primaryData],
          ['purpose', base.purpose],
          ['examples', base.examples.join(', ')],
        ],
        { width, indent: 2, spacing: 'none' },
      );
      const byCard = new Map<string, RegisteredArchitecture[]>();
      for (const a of members) {
        const key = JSON.stringify(a.card);
        byCard.set(key, [...(byCard.get(key) ?? []), a]);
      }
      const heads = renderTable(
        ['architectures', 'input → output', 'adaptability', 'applications'],
        [...byCard.values()].map((same) => {
          const card = same[0]!.card;
          return [distinct(same.map((a) => a.architecture)).join('\n'), `${card.inputModalities.join(', ')} → ${card.outputModalities.join(', ')}`, card.adaptability.join(', '), card.applications.join(', ')];
        }),
        { width, indent: 2 },
      );
      return `${distinct(members.map((a) => a.modelType)).join(', ')}\n${about}\n${heads}`;
    })
    .join('\n');
}

export function registerModels(program: Command, io: CliIO): void {
  program
    .command('models')
    .description('the registered architectures with their cards, or the comparison of the model families')
    .option('--compare', 'compare the large-language, foundation and multi-modal families, computed from the cards', false)
    .option('--json', 'print one JSON line per architecture (or per family with --compare)', false)
    .option('--width <COLUMNS>', `wrap tables to this many columns (default: the terminal's, or ${DEFAULT_WIDTH} when piped)`, terminalWidth)
    .action((f: ModelsOptions) => runModels(f, io));
}
