// The page's side of the worker boundary: typed requests that resolve with the worker's reply
// (errors arrive as {name, message} and are rebuilt as Errors of that name, so the page reports
// "DatasetFormatError: ..." as before), and a listener for training events.

import type { Envelope, ErrorInfo, Replies, Request, WorkerEvent } from './protocol.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
export type EventOf<K extends WorkerEvent['event']> = Extract<WorkerEvent, { event: K }>;

export class WorkerClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: ((ev: WorkerEvent) => void)[] = [];

  constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'trainer' });
    this.worker.addEventListener('message', (e: MessageEvent<WorkerEvent>) => this.receive(e.data));
    this.worker.addEventListener('error', (e) => {
      const err = rebuild({
        name: 'WorkerError',
        message: e.message || 'the training worker failed to start',
      });
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  call<K extends Request['op']>(
    req: Extract<Request, { op: K }>,
    transfer: Transferable[] = [],
  ): Promise<Replies[K]> {
    const id = this.nextId++;
    const env = { ...req, id } as Envelope;
    return new Promise<Replies[K]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage(env, transfer);
    });
  }

  on(fn: (ev: WorkerEvent) => void): void {
    this.listeners.push(fn);
  }

  private receive(ev: WorkerEvent): void {
    if (ev.event === 'reply' || ev.event === 'fail') {
      const p = this.pending.get(ev.id);
      this.pending.delete(ev.id);
      if (ev.event === 'reply') p?.resolve(ev.value);
      else p?.reject(rebuild(ev.error));
      return;
    }
    for (const fn of this.listeners) fn(ev);
  }
}

/** An Error carrying the worker-side class name (showError prints it). */
export function rebuild(info: ErrorInfo): Error {
  const e = new Error(info.message);
  e.name = info.name;
  return e;
}
