import { stringify } from 'csv-stringify/sync';

export type CsvValue = string | number | boolean | null | undefined | object;

/** A text a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading quote mark. */
function neutralise(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/**
 * Rows as CSV for spreadsheets, the one way Lectern writes CSV: CRLF line ends, a field quoted
 * when it holds a quote, comma, semicolon (spreadsheets in many locales split on it) or line
 * break, formulas neutralised, lists and objects as JSON.
 */
export function toCsv(rows: CsvValue[][]): string {
  return stringify(rows, {
    record_delimiter: 'windows',
    quoted_match: [/;/, /[\r\n]/],
    cast: {
      string: (v) => neutralise(v),
      number: (v) => String(v),
      boolean: (v) => String(v),
      object: (v) => neutralise(JSON.stringify(v)),
    },
  });
}
