import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { create as tarCreate } from 'tar';

/**
 * An image archive as `docker save` writes it, made from a handful of the host's programs and
 * their libraries (no registry, no docker), with a marker file only the image has:
 * /etc/lectern-image. Building an environment from it (skopeo, umoci) takes seconds.
 */
// What the sandbox itself needs in any root (bash, cp, tar, nice), and the test's sh and cat.
const PROGRAMS = ['/usr/bin/bash', '/usr/bin/dash', '/usr/bin/cp', '/usr/bin/tar', '/usr/bin/nice', '/usr/bin/cat'];

function copyInto(rootfs: string, file: string): void {
  // Merged /usr: /lib/x -> usr/lib/x, /lib64/x -> usr/lib64/x.
  const rel = file.replace(/^\/(lib|lib64|bin)\//, 'usr/$1/').replace(/^\//, '');
  const target = path.join(rootfs, rel);
  mkdirSync(path.dirname(target), { recursive: true });
  if (!existsSync(target)) copyFileSync(realpathSync(file), target);
  chmodSync(target, 0o755);
}

/** The archive's path; `marker` is what /etc/lectern-image says inside it. */
export async function makeImage(dir: string, marker = 'from the image\n'): Promise<string> {
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  for (const program of PROGRAMS) {
    copyInto(rootfs, program);
    for (const m of execFileSync('ldd', [program], { encoding: 'utf8' }).matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) copyInto(rootfs, m[1]!);
  }
  symlinkSync('dash', path.join(rootfs, 'usr/bin/sh'));
  for (const link of ['bin', 'lib', 'lib64']) symlinkSync(`usr/${link}`, path.join(rootfs, link));
  copyFileSync('/etc/ld.so.cache', path.join(rootfs, 'etc/ld.so.cache'));
  writeFileSync(path.join(rootfs, 'etc/lectern-image'), marker);

  const image = path.join(dir, 'image');
  mkdirSync(image);
  await tarCreate({ file: path.join(image, 'layer.tar'), cwd: rootfs, portable: true }, ['bin', 'etc', 'lib', 'lib64', 'usr']);
  const layerSha = createHash('sha256').update(readFileSync(path.join(image, 'layer.tar'))).digest('hex');
  writeFileSync(path.join(image, 'config.json'), JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${layerSha}`] } }));
  writeFileSync(path.join(image, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['lectern/test:1'], Layers: ['layer.tar'] }]));
  const archive = path.join(dir, 'image.tar');
  await tarCreate({ file: archive, cwd: image, portable: true }, ['manifest.json', 'config.json', 'layer.tar']);
  return archive;
}

