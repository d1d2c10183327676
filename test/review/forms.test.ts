import { describe, expect, it } from 'vitest';
import { validate } from '../../src/core/routes.js';
import { adjustmentForm, applyItemForm, assignForm, commentForm, groupForm, idParam, prevQuery, queueQuery, regradeCloseForm, regradeRequestForm, stateForm } from '../../src/plugins/review/forms.js';

/** The status and message a schema answers a value with (or the parsed value). */
function answer(schema: Parameters<typeof validate>[0], value: unknown): unknown {
  try {
    return validate(schema, value);
  } catch (err) {
    const e = err as { status: number; message: string };
    return [e.status, e.message];
  }
}

describe('review forms', () => {
  it('answer 400 naming the field for ids, choices and points, 422 for text that is too long', () => {
    expect(answer(applyItemForm, { applied: 'x', item: '1' })).toEqual([400, 'applied: give 1 to apply the item or 0 to remove it.']);
    expect(answer(applyItemForm, { applied: '1' })).toEqual([400, 'item: give a number.']);
    expect(answer(adjustmentForm, { points: 'many', reason: 'r' })).toEqual([400, 'points: give a number of points, like 2 or -0.5.']);
    expect(answer(adjustmentForm, { points: '5000', reason: 'r' })).toEqual([400, 'points: must be between -1000 and 1000.']);
    expect(answer(adjustmentForm, { points: '0', reason: 'r' })).toEqual([400, 'points: an adjustment of 0 changes nothing.']);
    expect(answer(adjustmentForm, { points: '1', reason: '' })).toEqual([400, 'reason: write something.']);
    expect(answer(adjustmentForm, { points: '1', reason: 'x'.repeat(501) })).toEqual([422, 'reason: at most 500 characters (this has 501).']);
    expect(answer(commentForm, { path: 'a.py', from: '0', body: 'b' })).toEqual([400, 'from: lines are numbered from 1.']);
    expect(answer(stateForm, { state: 'done' })).toEqual([400, 'state: choose graded or in_progress.']);
    expect(answer(groupForm, { title: 't', max: '-1' })).toEqual([400, 'max: must be between 0 and 1000.']);
    expect(answer(groupForm, { title: 't', max: '1', scoring: 'both' })).toEqual([400, 'scoring: choose positive or negative.']);
    expect(answer(queueQuery, { grader: 'someone' })).toEqual([400, 'grader: give a number.']);
    expect(answer(queueQuery, { state: 'done' })).toEqual([400, 'state: choose ungraded, in_progress, graded or any.']);
    expect(answer(prevQuery, {})).toEqual([400, 'before: give a number.']);
    expect(answer(assignForm, { mode: ['all'] })).toEqual([400, 'mode: choose selected or spread.']);
    expect(answer(regradeRequestForm, { subject: 'line:3', message: 'm' })).toEqual([400, 'subject: choose the rubric item or comment you are asking about.']);
    expect(answer(regradeCloseForm, { outcome: 'maybe' })).toEqual([400, 'outcome: choose adjusted, declined or answered.']);
    expect(answer(regradeCloseForm, { outcome: 'declined' })).toEqual([400, 'body: write something.']);
    expect(() => idParam('x', 'adjustment')).toThrow('adjustment: give a number.');
  });

  it('read what the old hand checks read', () => {
    expect(answer(adjustmentForm, { points: ' −1,5 ', reason: ' why\r\nnot ' })).toEqual({ points: -1.5, reason: 'why\nnot' });
    expect(answer(commentForm, { path: 'a.py', from: '2', to: '', body: 'b', item: '' })).toEqual({ path: 'a.py', from: 2, to: null, body: 'b', item: null });
    expect(answer(groupForm, { title: 't', max: '4' })).toEqual({ title: 't', max: 4, scoring: 'positive' });
    expect(answer(queueQuery, { grader: '', state: '' })).toEqual({ grader: 'any', state: '' });
    expect(answer(assignForm, { mode: ['selected', 'spread'], students: ['1'] })).toEqual({ mode: 'spread', grader: '', graders: [], students: ['1'] });
    expect(answer(regradeCloseForm, { outcome: 'answered' })).toEqual({ outcome: 'answered', body: '' });
  });
});
