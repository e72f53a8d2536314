import { z } from 'zod';
import { MATERIAL_ITEMS, type MaterialItemCode } from '../../shared/catalogue.js';
import { AppError } from '../http/errors.js';

/** Round to the 3 decimals of the numeric(14,3) columns, so float noise never leaks into comparisons. */
export const q3 = (n: number) => Math.round(n * 1000) / 1000;

/** A positive quantity with at most 3 decimals (the numeric(14,3) columns). */
export const quantitySchema = z
  .number()
  .positive('must be greater than 0')
  .max(1e10)
  .refine((q) => Math.abs(q * 1000 - Math.round(q * 1000)) < 1e-6, 'at most 3 decimals');

export function isCountable(item: string): boolean {
  return MATERIAL_ITEMS[item as MaterialItemCode]?.countable ?? true;
}

/** Countable items (pumps, tents) move in whole units: a fraction is a 400 naming the field. */
export function requireWholeIfCountable(item: string, quantity: number, field: string): void {
  if (isCountable(item) && !Number.isInteger(quantity)) {
    const issues = [{ path: field, message: `${item} is counted in whole units`, code: 'not_integer' }];
    throw new AppError('validation_failed', `invalid body: ${field}: ${item} is counted in whole units`, { issues });
  }
}
