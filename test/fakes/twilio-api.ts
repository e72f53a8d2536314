import http from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';

export interface FakeSms {
  sid: string;
  to: string;
  from: string;
  body: string;
  statusCallback: string | null;
}

/**
 * A loopback stand-in for the Twilio Messages API (POST /2010-04-01/Accounts/{sid}/Messages.json,
 * form-encoded, Basic auth), answering like Twilio and posting signed status callbacks.
 */
export interface FakeCall {
  sid: string;
  to: string;
  from: string;
  twiml: string;
}

export class FakeTwilio {
  readonly messages: FakeSms[] = [];
  /** Voice calls placed (POST …/Calls.json with Twiml). */
  readonly calls: FakeCall[] = [];
  readonly rejected: { status: number; reason: string }[] = [];
  /** Numbers whose next N requests get a 500 (to exercise retries). */
  readonly failNext = new Map<string, number>();
  /** Final status posted for a number (default delivered). */
  readonly finalStatus = new Map<string, 'delivered' | 'undelivered' | 'failed'>();
  /** When false, no status callbacks are posted. */
  callbacks = true;
  /** Milliseconds every API request waits before it is answered (a slow provider, for crash tests). */
  delayMs = 0;
  private server?: http.Server;
  private counter = 0;
  url = '';

  constructor(
    readonly accountSid = 'AC' + 'f'.repeat(32),
    readonly authToken = 'fake-twilio-auth-token-0123456789',
  ) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  private reply(res: http.ServerResponse, status: number, body: unknown, reason?: string) {
    if (status >= 400) this.rejected.push({ status, reason: reason ?? JSON.stringify(body) });
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const calls = path === `/2010-04-01/Accounts/${this.accountSid}/Calls.json`;
    if (req.method !== 'POST' || (!calls && path !== `/2010-04-01/Accounts/${this.accountSid}/Messages.json`)) return this.reply(res, 404, { code: 20404, message: 'not found' }, `${req.method} ${path}`);
    const expected = 'Basic ' + Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64');
    if (req.headers.authorization !== expected) return this.reply(res, 401, { code: 20003, message: 'Authenticate' }, 'bad auth');
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return this.reply(res, 400, { code: 0, message: 'form expected' });
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    if (calls) return this.call(res, form);
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? '';
    const body = form.get('Body') ?? '';
    if (!/^\+[1-9]\d{6,14}$/.test(to)) return this.reply(res, 400, { code: 21211, message: `The 'To' number ${to} is not a valid phone number.` });
    if (!from) return this.reply(res, 400, { code: 21603, message: "A 'From' phone number is required." });
    if (!body || body.length > 1600) return this.reply(res, 400, { code: 21617, message: 'The concatenated message body exceeds the 1600 character limit.' });
    const failures = this.failNext.get(to) ?? 0;
    if (failures > 0) {
      this.failNext.set(to, failures - 1);
      return this.reply(res, 500, { code: 20500, message: 'Internal Server Error' });
    }
    const sid = `SM${(++this.counter).toString(16).padStart(32, '0')}`;
    const statusCallback = form.get('StatusCallback');
    this.messages.push({ sid, to, from, body, statusCallback });
    this.reply(res, 201, { sid, account_sid: this.accountSid, to, from, body, status: 'queued', num_segments: '1', date_created: new Date().toUTCString(), uri: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sid}.json` });
    if (statusCallback && this.callbacks) {
      setTimeout(() => void this.callback(statusCallback, sid, to, 'sent').then(() => this.callback(statusCallback, sid, to, this.finalStatus.get(to) ?? 'delivered')), 5);
    }
  }

  /** Calls.json as Twilio answers it: To, From and Twiml (or Url) required; TwiML must be a <Response>. */
  private call(res: http.ServerResponse, form: URLSearchParams): void {
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? '';
    const twiml = form.get('Twiml') ?? '';
    if (!/^\+[1-9]\d{6,14}$/.test(to)) return this.reply(res, 400, { code: 21211, message: `The 'To' number ${to} is not a valid phone number.` });
    if (!from) return this.reply(res, 400, { code: 21603, message: "A 'From' phone number is required." });
    if (!twiml && !form.get('Url')) return this.reply(res, 400, { code: 21205, message: 'Url or Twiml is required.' });
    if (twiml && !/<Response>[\s\S]*<\/Response>\s*$/.test(twiml)) return this.reply(res, 400, { code: 12100, message: 'Document parse failure' });
    const failures = this.failNext.get(to) ?? 0;
    if (failures > 0) {
      this.failNext.set(to, failures - 1);
      return this.reply(res, 500, { code: 20500, message: 'Internal Server Error' });
    }
    const sid = `CA${(++this.counter).toString(16).padStart(32, '0')}`;
    this.calls.push({ sid, to, from, twiml });
    this.reply(res, 201, { sid, account_sid: this.accountSid, to, from, status: 'queued', direction: 'outbound-api', date_created: new Date().toUTCString(), uri: `/2010-04-01/Accounts/${this.accountSid}/Calls/${sid}.json` });
  }

  /** A person's SMS reply, posted to our inbound-message webhook signed as Twilio signs (or forged). */
  async inbound(url: string, from: string, body: string, opts: { forge?: boolean } = {}): Promise<{ status: number; text: string }> {
    const params: Record<string, string> = { MessageSid: `SM${(++this.counter).toString(16).padStart(32, '0')}`, AccountSid: this.accountSid, From: from, To: '+15005550006', Body: body, NumMedia: '0', ApiVersion: '2010-04-01' };
    const signature = twilio.getExpectedTwilioSignature(opts.forge ? 'wrong-token' : this.authToken, url, params);
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
    return { status: res.status, text: await res.text() };
  }

  /** Posts a status callback signed the way Twilio signs (HMAC-SHA1 of URL + sorted params). */
  async callback(url: string, sid: string, to: string, status: string, opts: { forge?: boolean } = {}): Promise<number> {
    const params: Record<string, string> = { MessageSid: sid, MessageStatus: status, AccountSid: this.accountSid, To: to, ApiVersion: '2010-04-01' };
    if (status === 'undelivered' || status === 'failed') params.ErrorCode = '30003';
    const signature = twilio.getExpectedTwilioSignature(opts.forge ? 'wrong-token' : this.authToken, url, params);
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
      return res.status;
    } catch {
      return 0;
    }
  }
}
