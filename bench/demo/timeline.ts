/**
 * A terminal Gantt chart: one row per lane (a car, a worker, a request), time across, fitting
 * 80 columns. Waiting is drawn thin, holding a resource thick; colour when the terminal has it
 * (and `NO_COLOR` is not set), plain characters otherwise.
 */
export interface Span {
  start: number;
  end: number;
  kind: 'wait' | 'run';
}

export interface Lane {
  label: string;
  spans: Span[];
}

export interface TimelineOptions {
  width?: number;
  color?: boolean;
  /** A title for the time axis, e.g. 'ms'. */
  unit?: string;
}

const GLYPH = { wait: '·', run: '█' } as const;
const COLOR = { wait: '\x1b[2m', run: '\x1b[36m' } as const;
const RESET = '\x1b[0m';

export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  return stream.isTTY === true && (stream.hasColors?.() ?? false);
}

export function renderTimeline(lanes: Lane[], options: TimelineOptions = {}): string[] {
  const width = options.width ?? 80;
  const color = options.color ?? false;
  const all = lanes.flatMap((lane) => lane.spans);
  if (all.length === 0) return [];
  const t0 = Math.min(...all.map((s) => s.start));
  const t1 = Math.max(...all.map((s) => s.end));
  const labelWidth = Math.min(14, Math.max(...lanes.map((l) => l.label.length)));
  const columns = width - labelWidth - 3;
  const span = Math.max(t1 - t0, 1);
  const column = (t: number): number => Math.min(columns - 1, Math.floor(((t - t0) / span) * columns));
  const lines = lanes.map((lane) => {
    const cells: (keyof typeof GLYPH | undefined)[] = new Array(columns).fill(undefined);
    for (const s of lane.spans) {
      for (let c = column(s.start); c <= column(Math.max(s.start, s.end - 1e-9)); c++) {
        if (s.kind === 'run' || cells[c] === undefined) cells[c] = s.kind;
      }
    }
    const body = cells.map((kind) => (kind === undefined ? ' ' : color ? `${COLOR[kind]}${GLYPH[kind]}${RESET}` : GLYPH[kind])).join('');
    return `${lane.label.slice(0, labelWidth).padEnd(labelWidth)} │${body}│`;
  });
  const axis = `${' '.repeat(labelWidth)} └${'─'.repeat(columns)}┘`;
  const scale = `${' '.repeat(labelWidth)}  0${`${Math.round(span)} ${options.unit ?? 'ms'}`.padStart(columns - 1)}`;
  return [...lines, axis, scale];
}

/** The most lanes holding at once (thick spans overlapping), from the recorded spans. */
export function maxOverlap(spans: { start: number; end: number }[]): number {
  const events = spans.flatMap((s) => [
    { t: s.start, d: 1 },
    { t: s.end, d: -1 },
  ]);
  events.sort((a, b) => a.t - b.t || a.d - b.d); // an end before a start at the same instant
  let now = 0;
  let max = 0;
  for (const e of events) {
    now += e.d;
    max = Math.max(max, now);
  }
  return max;
}

/** The smallest gap between consecutive times. */
export function minGap(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let min = Number.POSITIVE_INFINITY;
  for (let i = 1; i < sorted.length; i++) min = Math.min(min, (sorted[i] as number) - (sorted[i - 1] as number));
  return min;
}
