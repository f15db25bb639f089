import type { MessagePort } from 'node:worker_threads';
import type { Endpoint } from 'comlink';

/** comlink speaks the DOM's MessagePort dialect; Node's ports emit 'message' with the data itself. */
type Handler = Parameters<Endpoint['addEventListener']>[1];

/**
 * A Node `MessagePort` as a comlink `Endpoint`: comlink's own `node-adapter` does the same, but
 * ships only as an `.mjs` file (which the CommonJS build cannot `require` on Node 20) and a UMD
 * file whose types declare a default export the file does not have; these lines serve both builds.
 */
export function nodeEndpoint(port: MessagePort): Endpoint {
  const listeners = new WeakMap<object, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: unknown[]) => port.postMessage(message, transfer as never),
    addEventListener: (_type: string, handler: Handler) => {
      const listener = (data: unknown): void => {
        const event = { data } as never;
        if (typeof handler === 'function') handler(event);
        else handler.handleEvent(event);
      };
      port.on('message', listener);
      listeners.set(handler, listener);
    },
    removeEventListener: (_type: string, handler: Handler) => {
      const listener = listeners.get(handler);
      if (listener) port.off('message', listener);
      listeners.delete(handler);
    },
    start: () => port.start(),
  };
}
