// The page's side of a worker boundary: typed requests that resolve with the worker's reply
// (errors arrive as {name, message} and are rebuilt as Errors of that name, so the page reports
// "DatasetFormatError: ..." as before), and a listener for the worker's other events. The training
// page (main.ts, worker.ts) and the fine-tuning page (finetune/) each speak their own protocol.

import type { ErrorInfo, Replies, Request, WorkerEvent } from './protocol.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
export type EventOf<K extends WorkerEvent['event']> = Extract<WorkerEvent, { event: K }>;

/** The two events every worker answers a request with. */
export type ReplyEvent =
  { event: 'reply'; id: number; value: unknown } | { event: 'fail'; id: number; error: ErrorInfo };

export class RpcClient<
  Req extends { op: string },
  Rep extends Record<Req['op'], unknown>,
  Ev extends { event: string },
> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: ((ev: Ev) => void)[] = [];

  constructor(private readonly worker: Worker) {
    this.worker.addEventListener('message', (e: MessageEvent<Ev | ReplyEvent>) => this.receive(e.data));
    this.worker.addEventListener('error', (e) => {
      const err = rebuild({
        name: 'WorkerError',
        message: e.message || 'the worker failed to start',
      });
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  call<K extends Req['op']>(req: Extract<Req, { op: K }>, transfer: Transferable[] = []): Promise<Rep[K]> {
    const id = this.nextId++;
    return new Promise<Rep[K]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  on(fn: (ev: Ev) => void): void {
    this.listeners.push(fn);
  }

  private receive(ev: Ev | ReplyEvent): void {
    if (isReply(ev)) {
      const p = this.pending.get(ev.id);
      this.pending.delete(ev.id);
      if (ev.event === 'reply') p?.resolve(ev.value);
      else p?.reject(rebuild(ev.error));
      return;
    }
    for (const fn of this.listeners) fn(ev);
  }
}

function isReply(ev: { event: string }): ev is ReplyEvent {
  return ev.event === 'reply' || ev.event === 'fail';
}

/** The training page's worker (worker.ts). */
export class WorkerClient extends RpcClient<Request, Replies, WorkerEvent> {
  constructor() {
    super(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'trainer' }));
  }
}

/** An Error carrying the worker-side class name (showError prints it). */
export function rebuild(info: ErrorInfo): Error {
  const e = new Error(info.message);
  e.name = info.name;
  return e;
}
