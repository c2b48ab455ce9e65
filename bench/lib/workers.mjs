// A benchmark runtime hosted in a child process and driven over IPC (request/response by id),
// plus a sample of how busy the machine is before a run.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';

export class Worker {
  /** Starts `script` with `args`; resolves once it sends {ready: true, info}. */
  static async start(script, args, { label = script } = {}) {
    const w = new Worker(script, args, label);
    w.info = await w.ready;
    return w;
  }

  constructor(script, args, label) {
    this.label = label;
    this.pending = new Map();
    this.nextId = 1;
    this.stderr = '';
    this.child = fork(script, args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    this.child.stderr.on('data', (d) => {
      this.stderr += d;
      process.stderr.write(d);
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (msg) => {
        if (msg.ready) return resolve(msg.info);
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(`${this.label}: ${msg.error}`));
      });
      this.child.on('exit', (code, signal) => {
        const err = new Error(`${this.label} exited (${signal ?? `code ${code}`})${this.stderr ? `: ${this.stderr.trim().split('\n').at(-1)}` : ''}`);
        this.exited = true;
        reject(err);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      });
    });
  }

  call(op, params = {}) {
    if (this.exited) return Promise.reject(new Error(`${this.label} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, op, ...params });
    });
  }

  async close() {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.call('exit').catch(() => {});
    await Promise.race([exited, sleep(5000)]);
    if (!this.exited) this.child.kill();
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fraction of all CPUs busy over `ms` (from /proc/stat), or null where there is none. */
export async function cpuBusy(ms = 1000) {
  const read = () => {
    try {
      const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
      const idle = f[3] + (f[4] ?? 0);
      return { idle, total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await sleep(ms);
  const b = read();
  if (!a || !b || b.total === a.total) return null;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

function procTimes() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // /proc/self/stat: fields after the ')' of the command; utime, stime, cutime, cstime are 14..17
    const self = readFileSync('/proc/self/stat', 'utf8');
    const rest = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    const own = rest[11] + rest[12] + rest[13] + rest[14];
    return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + (f[4] ?? 0), own };
  } catch {
    return null;
  }
}

/**
 * Starts watching the CPUs; stop() gives the fraction of all CPU time over the interval that went
 * to processes outside this one and its (exited, reaped) children — other people's work that may
 * have slowed the run. Null where /proc is missing.
 */
export function watchOthers() {
  const a = procTimes();
  return {
    stop() {
      const b = procTimes();
      if (!a || !b || b.total === a.total) return null;
      const busy = b.total - b.idle - (a.total - a.idle);
      return Math.max(0, (busy - (b.own - a.own)) / (b.total - a.total));
    },
  };
}
