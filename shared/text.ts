import { z } from 'zod';

/**
 * User text: everything people type that other people read (titles, names, notes, reports,
 * warning texts). Control characters have no business there: NUL breaks PostgreSQL text, the
 * others hide or reorder what a reader sees (terminal escapes, backspaces). Tab, newline and
 * CRLF are allowed only where text may span lines.
 */
const CONTROL_SINGLE_LINE = /[\u0000-\u001f\u007f]/;
const CONTROL_MULTI_LINE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|\r(?!\n)/;
/** Whitespace as a reader sees it: trim()'s set plus zero-width characters that print nothing. */
const BLANK = /^[\s\u200b-\u200d\u2060\ufeff]*$/;

export interface TextOptions {
  max: number;
  /** Tabs and line breaks allowed (notes, reports, warning texts). */
  multiline?: boolean;
  /** An empty string is accepted (optional free text such as a reason); whitespace-only still is not. */
  allowEmpty?: boolean;
}

export function hasControlCharacters(value: string, multiline = false): boolean {
  return (multiline ? CONTROL_MULTI_LINE : CONTROL_SINGLE_LINE).test(value);
}

/** Trimmed user text of at most `max` characters, without control characters, never only whitespace. */
export function userText(opts: TextOptions) {
  return z
    .string()
    .refine((v) => !hasControlCharacters(v, opts.multiline), opts.multiline ? 'must not contain control characters (tab and line breaks are fine)' : 'must not contain control characters or line breaks')
    .trim()
    .max(opts.max)
    .refine((v) => (opts.allowEmpty && v === '') || !BLANK.test(v), 'must not be empty or only whitespace');
}
