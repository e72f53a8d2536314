/**
 * A WebSocket class for y-websocket's `WebSocketPolyfill` option that fetches a fresh one-use
 * ticket (`POST /api/live/ticket`) before every connection it opens, so the long-lived token never
 * goes into a URL and every reconnect of the provider carries a ticket of its own. When no ticket
 * can be had the socket "closes" like a real one: 4401 if the server says the session is gone
 * (the provider then stops for good), 1006 otherwise (it retries with backoff).
 */
type SocketClass = new (url: string, protocols?: string | string[]) => WebSocket;
type Handler = ((event: any) => void) | null;

export class TicketRefused extends Error {}

export function ticketedWebSocket(fetchTicket: () => Promise<string>, Base: SocketClass = WebSocket): typeof WebSocket {
  class TicketedWebSocket {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    readonly CONNECTING = 0;
    readonly OPEN = 1;
    readonly CLOSING = 2;
    readonly CLOSED = 3;
    binaryType: BinaryType = 'arraybuffer';
    onopen: Handler = null;
    onmessage: Handler = null;
    onerror: Handler = null;
    onclose: Handler = null;
    private inner: WebSocket | null = null;
    private ended = false;

    constructor(url: string, protocols?: string | string[]) {
      fetchTicket().then(
        (ticket) => {
          if (this.ended) return;
          const ws = new Base(`${url}${url.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(ticket)}`, protocols);
          ws.binaryType = this.binaryType;
          ws.onopen = (e) => this.onopen?.(e);
          ws.onmessage = (e) => this.onmessage?.(e);
          ws.onerror = (e) => this.onerror?.(e);
          ws.onclose = (e) => this.onclose?.(e);
          this.inner = ws;
        },
        (err: unknown) => {
          if (this.ended) return;
          this.ended = true;
          const refused = err instanceof TicketRefused;
          this.onclose?.({ code: refused ? 4401 : 1006, reason: refused ? 'session ended' : 'no ticket (offline?)', wasClean: false });
        },
      );
    }

    get readyState(): number {
      return this.inner?.readyState ?? (this.ended ? 3 : 0);
    }

    get bufferedAmount(): number {
      return this.inner?.bufferedAmount ?? 0;
    }

    send(data: ArrayBufferLike | ArrayBufferView | Blob | string): void {
      this.inner?.send(data as never);
    }

    close(code?: number, reason?: string): void {
      this.ended = true;
      this.inner?.close(code, reason);
    }
  }
  return TicketedWebSocket as unknown as typeof WebSocket;
}
