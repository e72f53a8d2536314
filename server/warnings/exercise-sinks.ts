import type { Config } from '../config.js';
import { normalisePhone, normaliseTargetUrl, splitList } from './targets.js';

/**
 * Where an exercise (演练) warning may go: recipients, subscriptions and endpoints flagged for
 * drills, the numbers and endpoints configured for drills, and the built-in recording sink.
 * The outbox worker asks this before every external call, whatever was enqueued. Numbers are
 * kept in E.164 and URLs normalised, the forms addresses and stored endpoints have.
 */
export class ExerciseSinks {
  readonly smsNumbers: string[];
  readonly broadcastUrls: string[];
  constructor(config: Pick<Config, 'EXERCISE_SMS_NUMBERS' | 'EXERCISE_BROADCAST_ENDPOINTS'>) {
    this.smsNumbers = splitList(config.EXERCISE_SMS_NUMBERS).flatMap((n) => normalisePhone(n) ?? []);
    this.broadcastUrls = splitList(config.EXERCISE_BROADCAST_ENDPOINTS).map(normaliseTargetUrl);
  }
}

/** BROADCAST_ENDPOINTS and the like: comma-separated URLs, normalised (config validation checked them). */
export const parseUrlList = (v: string | undefined) => splitList(v).map(normaliseTargetUrl);
