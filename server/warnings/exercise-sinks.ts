import type { Config } from '../config.js';

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/**
 * Where an exercise (演练) warning may go: recipients, subscriptions and endpoints flagged for
 * drills, the numbers and endpoints configured for drills, and the built-in recording sink.
 * The outbox worker asks this before every external call, whatever was enqueued.
 */
export class ExerciseSinks {
  readonly smsNumbers: string[];
  readonly broadcastUrls: string[];
  constructor(config: Pick<Config, 'EXERCISE_SMS_NUMBERS' | 'EXERCISE_BROADCAST_ENDPOINTS'>) {
    this.smsNumbers = list(config.EXERCISE_SMS_NUMBERS);
    this.broadcastUrls = list(config.EXERCISE_BROADCAST_ENDPOINTS);
  }
}

export const parseUrlList = list;
