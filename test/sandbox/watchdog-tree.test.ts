import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { treeResidentBytes } from '../../src/lib/sandbox/memory-watchdog.js';

/**
 * The memory watchdog (no delegated cgroup) sums the resident memory of a run's whole process
 * tree, grandchildren and children of other threads included, and nothing outside it. It walks
 * the tree through the kernel's children lists rather than reading every process on the machine.
 */

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function kids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
}

async function until<T>(get: () => T | null): Promise<T> {
  for (let i = 0; i < 2000; i++) {
    const v = get();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the process tree did not appear');
}

describe('memory watchdog', () => {
  it('counts every process below the root, grandchildren included, and no other', async () => {
    // root sh -> (sh -> sleep) and sleep: three processes below the root.
    const root = spawn('/bin/sh', ['-c', '/bin/sh -c "sleep 60 & wait" & sleep 60 & wait'], { stdio: 'ignore' });
    const outsider = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(root, outsider);
    const tree = await until(() => {
      const direct = kids(root.pid!);
      if (direct.length !== 2) return null;
      const grand = direct.flatMap((p) => kids(p));
      return grand.length === 1 ? [...direct, ...grand] : null;
    });
    const expected = tree.reduce((sum, p) => sum + rssOf(p), 0);
    const measured = await treeResidentBytes(root.pid!);
    expect(measured).toBeGreaterThan(0);
    // Same processes; their resident size may move by a page or two between the two reads.
    expect(Math.abs(measured - expected)).toBeLessThan(expected * 0.25);
    expect(await treeResidentBytes(outsider.pid!)).toBe(0);
  });
});
