/** One y-websocket client in a room: its socket, who it is and what it may do. */
import { WebSocket } from 'ws';
import type { Actor } from '../auth/policy.js';
import type { DecodedUpdate } from './protocol.js';

/** A client that lets this much pile up unsent is too slow to keep; it reconnects and resyncs. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export class Connection {
  /** Awareness client ids this connection has announced; removed when it leaves. */
  readonly awarenessIds = new Set<number>();
  /** True once the server answered the client's sync step 1: only then are live updates relayed to it. */
  synced = false;
  /** Cleared at each liveness ping, set again by the pong. */
  alive = true;
  /** The account's display name (from its session), stamped into its awareness states. */
  readonly displayName: string;
  /** Set once one of its updates was refused: everything it sends afterwards is dropped unapplied. */
  refused = false;
  /** Set once its answer to the server's sync step 1 has been applied. */
  syncReplied = false;
  /**
   * Updates that build on content this client has not sent yet, received before its sync answer:
   * the stock client sends an edit the moment the socket opens, while the offline edits it builds on
   * travel in the sync answer that follows. Retried right after that answer.
   */
  readonly held: { update: Uint8Array; decoded: DecodedUpdate }[] = [];
  private toldReadOnly = false;

  constructor(
    readonly ws: WebSocket,
    readonly actor: Actor,
    /** False for observers and on closed incidents: the client's updates are dropped. */
    public writable: boolean,
  ) {
    this.displayName = actor.displayName ?? actor.username;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(message: Uint8Array): void {
    if (!this.open) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.ws.terminate();
      return;
    }
    // One callback for every send: a room relays each edit to every connection, and a closure per
    // send would be garbage made N times per edit (the fan-out loop is where the per-connection
    // cost of bench:room grows with N).
    this.ws.send(message, this.afterSend);
  }

  private readonly afterSend = (err?: Error) => {
    if (err) this.ws.terminate();
  };

  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING) return;
    this.ws.close(code, reason);
  }

  /** True the first time only: a read-only client is told once, not for every dropped update. */
  shouldTellReadOnly(): boolean {
    if (this.toldReadOnly) return false;
    this.toldReadOnly = true;
    return true;
  }
}
