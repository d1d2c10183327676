/** Numbers for people: scores, lateness and ages as the staff and student pages write them. */

/** "42 s", "7 min", "3 h 5 min", "2 d 4 h". */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** How late a submission was, and what it cost: "on time", "12 min late (grace)", "1.5 d late, −20 %". */
export function lateness(minutes: number, penaltyPct: number): string {
  if (!minutes) return 'on time';
  const text = minutes < 60 ? `${minutes} min late` : minutes < 2880 ? `${Math.round(minutes / 6) / 10} h late` : `${Math.round(minutes / 144) / 10} d late`;
  return penaltyPct ? `${text}, −${penaltyPct} %` : `${text} (grace)`;
}

/** A score for people: at most three decimals, no trailing zeros. */
export function points(n: number | null): string {
  if (n === null) return '';
  return String(Math.round(n * 1000) / 1000);
}
